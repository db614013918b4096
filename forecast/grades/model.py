"""Community risk grades: a forecast with a unit, five levels at published thresholds, and the why.

The score
---------
A community's score is the forecast of **new infections among its residents per 100,000 residents
per day over the next 7 days** (D .. D+6 for a grade made on day D). It comes from a Poisson model of
the 7-day count ``y`` (fitted by ``scripts/fit_grade_model.py`` on synthetic outbreaks, coefficients
below)::

    E[y] = (b_base * residents + b_own7 * own_7 + b_own14 * own_8_14 + b_near * near
            + b_exposed * k * exposed + b_imported * k * imported + b_city * city
            + b_city_imported * city_imported) * exp(g * growth + h * density)

where ``k = residents / observed_residents`` (at least 1) scales the counts seen on the network (only
subscribers) up to the residents.

The sources add up (each is an expected number of infections); the city's growth and the density
multiply them. All coefficients are >= 0, so the score never falls when a source grows. The
features are those of :mod:`forecast.grades.features`. ``lo`` and ``hi`` are the 5% and 95%
quantiles of a negative binomial with that mean and the fitted dispersion, in the same unit, widened
to contain the score itself (with a tiny expected count both quantiles are 0 infections).

The grades (thresholds in :data:`THRESHOLDS`, per 100k per day; docs/methods.md says why):
slight < 1 <= low < 5 <= medium_low < 20 <= medium_high < 50 <= high.
A community with no population, no cell, no case data or no location data of its residents is
graded ``unknown`` with the reason, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.contacts import MIN_COUNT
from forecast.grades.features import community_features
from forecast.schema import GRADE_LEVELS

__all__ = ["THRESHOLDS", "SOURCES", "GradeModel", "DEFAULT_MODEL", "grade_of", "predict", "grade_features",
           "grade_communities", "score_quantiles", "coverage", "reasons_json", "trend_labels", "starred_cities", "china_rule_grade", "cases_only_score"]

#: Lower bounds of low, medium_low, medium_high and high (new infections per 100k residents per day).
THRESHOLDS = (1.0, 5.0, 20.0, 50.0)
UNKNOWN = "unknown"
HORIZON_DAYS = 7
PER = 1e5
#: The additive sources of the model, in order.
SOURCES = ("base", "own_7", "own_8_14", "near", "exposed", "imported", "city", "city_imported")
#: A score is "up" (or "down") against a week earlier when it changed by more than this factor AND by
#: more than TREND_ABS_TOL per 100k per day; otherwise "flat".
TREND_REL_TOL = 1.25
TREND_ABS_TOL = 1.0


@dataclass(frozen=True)
class GradeModel:
    """Coefficients of the score (see the module docstring); ``coef`` maps SOURCES to b's."""

    coef: dict = field(default_factory=dict)
    growth: float = 0.0
    density: float = 0.0
    dispersion: float = 1.0  # negative binomial: Var = mu + dispersion * mu^2
    note: str = ""

    def as_dict(self) -> dict:
        """Plain dict (JSON-able) of the model.

        Examples
        --------
        >>> sorted(DEFAULT_MODEL.as_dict())
        ['coef', 'density', 'dispersion', 'growth', 'note']
        """
        return {"coef": dict(self.coef), "growth": self.growth, "density": self.density,
                "dispersion": self.dispersion, "note": self.note}


# ---- golden coefficients: change them only by running scripts/fit_grade_model.py --------------------
DEFAULT_MODEL = GradeModel(
    coef={"base": 0, "own_7": 0.0766347, "own_8_14": 0.0150087, "near": 0.0356174, "exposed": 0.000926137, "imported": 0, "city": 1.00919, "city_imported": 0.6409},
    growth=0.3936,
    density=0.1584,
    dispersion=0.5591,
    note="fitted by scripts/fit_grade_model.py on seeds [101, 102] (11520 community-days), {'communities_per_city': 30, 'n_subscribers': 10000, 'epidemic_days': 35, 'n_days': 28}",
)
# ------------------------------------------------------------------------------------------------------


def grade_of(score) -> np.ndarray:
    """Grade names for scores (per 100k per day); NaN gives ``unknown``.

    Parameters
    ----------
    score : array_like of float
        Scores: new infections per 100,000 residents per day.

    Returns
    -------
    ndarray of object
        One of :data:`forecast.schema.GRADE_LEVELS` per score (bounds in :data:`THRESHOLDS`, a bound
        belongs to the higher grade), or ``"unknown"``.

    Examples
    --------
    >>> grade_of([0.5, 1.0, 4.9, 5.0, 20.0, 49.9, 50.0, float("nan")]).tolist()
    ['slight', 'low', 'low', 'medium_low', 'medium_high', 'medium_high', 'high', 'unknown']
    """
    s = np.asarray(score, dtype=float)
    idx = np.searchsorted(np.asarray(THRESHOLDS), np.nan_to_num(s, nan=0.0), side="right")
    return np.where(np.isnan(s), UNKNOWN, np.asarray(GRADE_LEVELS, dtype=object)[idx]).astype(object)


def coverage(f: pd.DataFrame) -> np.ndarray:
    """Residents per observed resident (at least 1; 1 where nobody is observed).

    Parameters
    ----------
    f : DataFrame
        Features with ``residents`` and ``observed_residents`` (without the latter: 1 everywhere).

    Returns
    -------
    ndarray of float
        The factor ``k`` of the module docstring, one per row.

    Examples
    --------
    >>> coverage(pd.DataFrame({"residents": [300.0, 50.0, 10.0], "observed_residents": [100, 100, 0]})).tolist()
    [3.0, 1.0, 1.0]
    """
    res = np.nan_to_num(f["residents"].to_numpy(float))
    obs = f["observed_residents"].to_numpy(float) if "observed_residents" in f else res
    return np.where(obs > 0, np.maximum(res / np.where(obs > 0, obs, 1.0), 1.0), 1.0)


def source_matrix(f: pd.DataFrame) -> np.ndarray:
    cols = {"base": f["residents"].to_numpy(float)}
    cols.update({k: f[k].to_numpy(float) for k in SOURCES[1:] if k in f})
    k = coverage(f)
    cols["exposed"], cols["imported"] = cols["exposed"] * k, cols["imported"] * k
    cols.update({s: np.zeros(len(f)) for s in SOURCES if s not in cols})
    return np.nan_to_num(np.column_stack([cols[k] for k in SOURCES]))


def predict(features: pd.DataFrame, model: GradeModel = DEFAULT_MODEL) -> dict[str, np.ndarray]:
    """Expected 7-day infections and the score of every row of ``features``.

    Parameters
    ----------
    features : DataFrame
        :data:`forecast.grades.features.FEATURES` columns (``residents``, the sources, ``growth``,
        ``density``, ``observed_residents``). Not modified.
    model : GradeModel
        The coefficients (default :data:`DEFAULT_MODEL`).

    Returns
    -------
    dict
        ``mu`` (expected infections among residents, D .. D+6), ``score``, ``lo``, ``hi`` (per 100k
        per day; NaN where residents <= 0), ``parts`` (n x len(SOURCES) expected infections of each
        source before the multiplier) and ``mult`` (the growth and density multiplier).

    Examples
    --------
    >>> f = pd.DataFrame({"residents": [1000.0], **{k: [0.0] for k in SOURCES[1:]}, "growth": [0.0], "density": [0.0]})
    >>> m = GradeModel(coef={"base": 1e-5, **{k: 1.0 for k in SOURCES[1:]}})
    >>> round(float(predict(f, m)["score"][0]), 6)
    1.0
    """
    from scipy.stats import nbinom

    parts = source_matrix(features) * np.array([model.coef.get(k, 0.0) for k in SOURCES])
    mult = np.exp(model.growth * features["growth"].to_numpy(float) + model.density * features["density"].to_numpy(float))
    mu = parts.sum(axis=1) * HORIZON_DAYS * mult
    res = features["residents"].to_numpy(float)
    scale = np.where(res > 0, PER / (HORIZON_DAYS * np.where(res > 0, res, 1.0)), np.nan)
    a = max(float(model.dispersion), 1e-6)
    r = 1.0 / a
    p = r / (r + np.maximum(mu, 1e-12))
    lo, hi = nbinom.ppf(0.05, r, p), nbinom.ppf(0.95, r, p)
    score = mu * scale
    return {"mu": mu, "score": score, "lo": np.fmin(lo * scale, score), "hi": np.fmax(hi * scale, score),
            "parts": parts * HORIZON_DAYS, "mult": mult}


def score_quantiles(mu, residents, model: GradeModel = DEFAULT_MODEL, levels=(0.05, 0.25, 0.5, 0.75, 0.95)) -> np.ndarray:
    """Quantiles of the realised 7-day incidence (per 100k per day) for expected counts ``mu``.

    Negative binomial with the model's dispersion; rows with no residents or NaN ``mu`` are NaN.

    Parameters
    ----------
    mu : array_like of float
        Expected infections among residents over the 7 days (``predict(...)["mu"]``).
    residents : array_like of float
        Residents of each row.
    model : GradeModel
        Source of the negative binomial ``dispersion``.
    levels : sequence of float
        Probability levels of the quantiles, in (0, 1).

    Returns
    -------
    ndarray
        ``(len(mu), len(levels))``: the quantiles in new infections per 100k residents per day.

    Examples
    --------
    >>> q = score_quantiles([7.0], [1e5], GradeModel(dispersion=1e-6), (0.5,))
    >>> q.round(1).tolist()
    [[1.0]]
    """
    from scipy.stats import nbinom

    mu = np.asarray(mu, float)[:, None]
    res = np.asarray(residents, float)[:, None]
    r = 1.0 / max(float(model.dispersion), 1e-6)
    p = r / (r + np.maximum(np.nan_to_num(mu), 1e-12))
    q = nbinom.ppf(np.asarray(levels, float)[None, :], r, p)
    ok = (res > 0) & np.isfinite(mu)
    return np.where(ok, q * PER / (HORIZON_DAYS * np.where(res > 0, res, 1.0)), np.nan)


def _count_texts(counts, zh_unit: str, en_one: str, en_many: str, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of people as text, zh and en: "7名" / "7 residents", "1 resident", and below
    ``min_count`` "少于5名" / "fewer than 5 residents" (a small count is never shown).

    Examples
    --------
    >>> [t.tolist() for t in _count_texts([0, 1, 7], "名", "resident", "residents", 5)]
    [['少于5名', '少于5名', '7名'], ['fewer than 5 residents', 'fewer than 5 residents', '7 residents']]
    >>> _count_texts([1, 2], "例", "case", "cases", 1)[1].tolist()
    ['1 case', '2 cases']
    """
    n = np.nan_to_num(np.asarray(counts, float)).astype(np.int64)
    num = n.astype(str).astype(object)
    small = n < int(min_count)
    zh = np.where(small, f"少于{int(min_count)}{zh_unit}", num + zh_unit)
    en = np.where(small, f"fewer than {int(min_count)} {en_many}", num + np.where(n == 1, " " + en_one, " " + en_many))
    return zh.astype(object), en.astype(object)


def _reason_texts(f: pd.DataFrame, min_count: int = MIN_COUNT) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per factor, the zh and en sentence for every row (vectorised string building); counts of people
    below ``min_count`` are written as "fewer than ``min_count``"."""
    exp_zh, exp_en = _count_texts(f["exposed"], "名", "resident", "residents", min_count)
    imp_zh, imp_en = _count_texts(f["imported_residents"], "名", "resident", "residents", min_count)
    o7_zh, o7_en = _count_texts(f["own_7"], "名", "resident", "residents", min_count)
    o14_zh, o14_en = _count_texts(f["own_8_14"], "名", "resident", "residents", min_count)
    near_zh, near_en = _count_texts(f["near_cases"], "例", "case", "cases", min_count)
    one = lambda counts, a, b: np.where(np.nan_to_num(np.asarray(counts, float)) == 1, a, b)  # noqa: E731
    g = f["growth"].to_numpy(float)
    ratio = pd.Series(np.exp(g), index=f.index).round(1).astype(str)
    up = g > 0.05
    down = g < -0.05
    dens = f["density"].to_numpy(float)
    dens_ratio = pd.Series(np.exp(dens), index=f.index).round(1).astype(str)
    per100k = f["city_per100k_7d"].round(1).astype(str)
    return {
        "base": (np.full(len(f), "基础风险：无近期病例时小区也有的低水平风险"),
                 np.full(len(f), "Background: the small risk any community has without recent cases")),
        "own_7": ("本小区近7天有" + o7_zh + "居民确诊",
                  o7_en + one(f["own_7"], " confirmed as a case", " confirmed as cases") + " in the last 7 days"),
        "own_8_14": ("本小区8-14天前有" + o14_zh + "居民确诊", o14_en + " confirmed 8-14 days ago"),
        "near": ("周边2公里内其他小区近14天有" + near_zh + "确诊",
                 near_en + " in the last 14 days in other communities within 2 km"),
        "exposed": (exp_zh + "居民近14天曾与确诊病例同处1小时以上（伴随者）",
                    exp_en + " shared a place with a case for 1 hour or more in the last 14 days (companions)"),
        "imported": (imp_zh + "居民近14天从有病例的外地城市返回",
                     imp_en + " came back in the last 14 days from other cities with cases"),
        "city": ("所在城市近7天每10万人新增" + per100k + "例确诊",
                 "Your city: " + per100k + " new cases per 100k people in the last 7 days"),
        "city_imported": (np.full(len(f), "本市近14天有居民从有病例的城市返回，可能带入尚未发现的感染"),
                          np.full(len(f), "People of your city came back from cities with cases in the last 14 days: "
                                          "they may have brought infections not yet found")),
        "growth": (np.where(up, "所在城市病例在上升（近7天为前7天的" + ratio + "倍）",
                            np.where(down, "所在城市病例在下降（近7天为前7天的" + ratio + "倍）", "所在城市病例持平")),
                   np.where(up, "Cases in your city are rising (last 7 days = " + ratio + " x the week before)",
                            np.where(down, "Cases in your city are falling (last 7 days = " + ratio + " x the week before)",
                                     "Cases in your city are flat"))),
        "density": ("人口密度为一般小区的" + dens_ratio + "倍",
                    "Population density " + dens_ratio + " x that of a typical community"),
    }


def _contributions(pred: dict, f: pd.DataFrame, model: GradeModel) -> np.ndarray:
    """Each factor's share of the score (per 100k per day); the columns add up to the score.

    Sources contribute their expected infections before the multiplier; growth and density share
    the change the multiplier makes, in proportion to their terms of its logarithm.
    """
    res = f["residents"].to_numpy(float)
    scale = np.where(res > 0, PER / (HORIZON_DAYS * np.where(res > 0, res, 1.0)), np.nan)
    src = pred["parts"] * scale[:, None]
    extra = pred["score"] - src.sum(axis=1)
    tg = model.growth * f["growth"].to_numpy(float)
    td = model.density * f["density"].to_numpy(float)
    tot = tg + td
    share_g = np.divide(tg, tot, out=np.full(len(f), 0.5), where=np.abs(tot) > 1e-12)
    return np.column_stack([src, extra * share_g, extra * (1 - share_g)])


def _reasons(f: pd.DataFrame, contrib: np.ndarray, unknown: np.ndarray, why_zh: np.ndarray, why_en: np.ndarray,
             min_count: int = MIN_COUNT) -> list:
    """Reasons per row, as lists of dicts sorted by |contribution|, largest first (small ones dropped)."""
    names = list(SOURCES) + ["growth", "density"]
    texts = _reason_texts(f, min_count)
    zh = np.column_stack([np.asarray(texts[k][0], dtype=object) for k in names]) if len(f) else np.zeros((0, len(names)))
    en = np.column_stack([np.asarray(texts[k][1], dtype=object) for k in names]) if len(f) else np.zeros((0, len(names)))
    c = np.round(np.nan_to_num(contrib), 2)
    order = np.argsort(-np.abs(c), axis=1, kind="stable")
    keep = np.take_along_axis(np.abs(c) >= 0.01, order, axis=1)
    out = []
    for i in range(len(f)):  # one small list per community for the JSON column; the maths above is vectorised
        if unknown[i]:
            out.append([{"factor": "unknown", "text_zh": why_zh[i], "text_en": why_en[i], "contribution": None}])
            continue
        js = order[i][keep[i]]
        out.append([{"factor": names[j], "text_zh": zh[i, j], "text_en": en[i, j], "contribution": float(c[i, j])}
                    for j in js] or [{"factor": "base", "text_zh": zh[i, 0], "text_en": en[i, 0], "contribution": 0.0}])
    return out


def _unknown(f: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pop = f["residents"].to_numpy(float)
    rules = [
        (~(pop > 0), "暂无人口数据，无法评级", "no population figure: no grade"),
        (f["n_cells"].to_numpy() <= 0, "该小区没有对应的基站，无法评级", "no cell tower serves this community: no grade"),
        (~f["has_cases_data"].to_numpy(bool), "暂无病例数据，无法评级", "no case data: no grade"),
        (~f["has_location_data"].to_numpy(bool) | (f["observed_residents"].to_numpy() <= 0),
         "暂无本小区居民的位置数据，无法评级", "no location data for this community's residents: no grade"),
    ]
    unknown = np.zeros(len(f), bool)
    zh = np.full(len(f), "", dtype=object)
    en = np.full(len(f), "", dtype=object)
    for mask, z, e in reversed(rules):  # the first rule that applies wins
        zh[mask], en[mask] = z, e
        unknown |= mask
    return unknown, zh, en


def trend_labels(now, before, *, rel_tol: float = TREND_REL_TOL, abs_tol: float = TREND_ABS_TOL) -> np.ndarray:
    """``up``, ``flat`` or ``down`` of scores against the scores a week earlier (NaN before: None).

    Up means ``now > before * rel_tol`` and ``now - before > abs_tol``; down is the mirror image.

    Parameters
    ----------
    now : array_like of float
        Scores now (per 100k per day).
    before : array_like of float
        Scores of the same communities seven days earlier.
    rel_tol : float
        Least factor of change for ``up`` or ``down``.
    abs_tol : float
        Least absolute change, per 100k per day, for ``up`` or ``down``.

    Returns
    -------
    ndarray of object
        ``"up"``, ``"flat"``, ``"down"`` or None (where ``now`` or ``before`` is NaN), one per score.

    Examples
    --------
    >>> trend_labels([10.0, 10.0, 10.0, 1.1, 3.0], [5.0, 9.0, 20.0, 0.2, float("nan")]).tolist()
    ['up', 'flat', 'down', 'flat', None]
    """
    a, b = np.asarray(now, float), np.asarray(before, float)
    up = (a > b * rel_tol) & (a - b > abs_tol)
    down = (b > a * rel_tol) & (b - a > abs_tol)
    lab = np.where(up, "up", np.where(down, "down", "flat")).astype(object)
    lab[np.isnan(a) | np.isnan(b)] = None
    return lab


def grade_features(features: pd.DataFrame, model: GradeModel = DEFAULT_MODEL,
                   score_week_ago: pd.Series | None = None, *, min_count: int = MIN_COUNT) -> pd.DataFrame:
    """Score, grade, interval, reasons and trend from the features of :func:`community_features`.

    Parameters
    ----------
    features : DataFrame
        :data:`FEATURES` columns. Not modified.
    model : GradeModel
    score_week_ago : Series, optional
        Scores of seven days earlier by community_id (for the trend; missing: trend None).
    min_count : int
        Counts of people below it are written "fewer than ``min_count``" in the reasons (the build
        passes ``BuildParams.small_count``, the one threshold of every public figure).

    Returns
    -------
    DataFrame
        ``community_id, score, grade, lo, hi, trend, reasons`` (reasons: a list of dicts
        ``factor, text_zh, text_en, contribution``, largest first) and ``expected_infections``.

    Examples
    --------
    >>> from forecast.grades.features import FEATURES
    >>> f = pd.DataFrame({k: [0] for k in FEATURES}).astype(FEATURES)
    >>> f[["residents", "n_cells", "observed_residents", "has_cases_data", "has_location_data"]] = [1000.0, 1, 10, True, True]
    >>> g = grade_features(f.assign(own_7=3.0), GradeModel(coef={"own_7": 0.05}))  # 3 x 0.05 a day in 1,000: 15
    >>> g["grade"].item(), g["score"].item(), g["reasons"].item()[0]["factor"]
    ('medium_low', 15.0, 'own_7')
    """
    f = features.reset_index(drop=True)
    pred = predict(f, model)
    unknown, why_zh, why_en = _unknown(f)
    score = np.where(unknown, np.nan, pred["score"])
    contrib = _contributions(pred, f, model)
    before = (score_week_ago.reindex(f["community_id"]).to_numpy(float) if score_week_ago is not None
              else np.full(len(f), np.nan))
    return pd.DataFrame({
        "community_id": f["community_id"].to_numpy(np.int64),
        "score": np.round(score, 3),
        "grade": grade_of(score),
        "lo": np.round(np.where(unknown, np.nan, pred["lo"]), 3),
        "hi": np.round(np.where(unknown, np.nan, pred["hi"]), 3),
        "trend": trend_labels(score, before),
        "reasons": _reasons(f, contrib, unknown, why_zh, why_en, min_count),
        "expected_infections": np.where(unknown, np.nan, pred["mu"]),
    })


def grade_communities(
    communities: pd.DataFrame,
    cells: pd.DataFrame | None,
    cases: pd.DataFrame | None,
    as_of,
    *,
    homes: pd.DataFrame | None = None,
    exposure: pd.DataFrame | None = None,
    itinerary: pd.DataFrame | None = None,
    city_growth: pd.Series | None = None,
    score_week_ago: pd.Series | None = None,
    model: GradeModel = DEFAULT_MODEL,
    min_count: int = MIN_COUNT,
) -> pd.DataFrame:
    """Grade every community on day ``as_of``: :func:`community_features` then :func:`grade_features`.

    Parameters are those of the two functions. Nothing passed in is modified.

    Parameters
    ----------
    communities, cells, cases, as_of, homes, exposure, itinerary, city_growth
        As in :func:`forecast.grades.features.community_features`.
    score_week_ago : Series, optional
        As in :func:`grade_features`.
    model : GradeModel
        As in :func:`grade_features`.
    min_count : int
        As in :func:`grade_features`.

    Returns
    -------
    DataFrame
        As :func:`grade_features`: ``community_id, score, grade, lo, hi, trend, reasons,
        expected_infections``, one row per community.

    Examples
    --------
    >>> comms = pd.DataFrame({"community_id": [1, 2, 3], "city_code": [9, 9, 9], "lon": [120.0, 120.3, 120.6],
    ...                       "lat": [30.0, 30.0, 30.0], "population": [1000, 2000, 0]})
    >>> cells = pd.DataFrame({"cell_id": [10, 20, 30], "community_id": [1, 2, 3]})
    >>> cases = pd.DataFrame({"confirmed_date": pd.to_datetime(["2020-01-19"] * 2), "community_id": [1, 1],
    ...                       "city_code": [9, 9], "uid": [5, 6]})
    >>> homes = pd.DataFrame({"uid": [5, 6, 7], "community_id": [1, 1, 2]})
    >>> m = GradeModel(coef={"own_7": 0.05, "city": 1.0})
    >>> g = grade_communities(comms, cells, cases, "2020-01-20", homes=homes, model=m)
    >>> g["grade"].tolist(), g["score"].tolist()[:2]
    (['medium_low', 'medium_low', 'unknown'], [19.524, 9.524])
    """
    f = community_features(communities, cells, cases, as_of, homes=homes, exposure=exposure, itinerary=itinerary,
                           city_growth=city_growth)
    return grade_features(f, model, score_week_ago, min_count=min_count)


def reasons_json(reasons) -> list[str]:
    """Reasons lists as JSON text (UTF-8, Chinese kept readable) for the snapshot.

    Parameters
    ----------
    reasons : iterable
        Reasons per community: lists of dicts (the ``reasons`` column of :func:`grade_features`); text
        already in JSON is kept as it is.

    Returns
    -------
    list of str
        One JSON array per community, in input order.

    Examples
    --------
    >>> reasons_json([[{"factor": "base", "text_zh": "基础", "text_en": "b", "contribution": 0.1}]])
    ['[{"factor": "base", "text_zh": "基础", "text_en": "b", "contribution": 0.1}]']
    """
    return [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in reasons]


def starred_cities(grades: pd.DataFrame, communities: pd.DataFrame) -> pd.DataFrame:
    """Cities with at least one community graded medium_high or high (the itinerary card's star).

    Parameters
    ----------
    grades : DataFrame
        ``community_id, grade`` (e.g. :func:`grade_features`).
    communities : DataFrame
        COMMUNITIES (at least ``community_id, city_code``).

    Returns
    -------
    DataFrame
        ``city_code, hot_communities`` (number of such communities), one row per starred city.

    Examples
    --------
    >>> g = pd.DataFrame({"community_id": [1, 2, 3], "grade": ["high", "low", "unknown"]})
    >>> c = pd.DataFrame({"community_id": [1, 2, 3], "city_code": [9, 8, 7]})
    >>> starred_cities(g, c).to_dict("records")
    [{'city_code': 9, 'hot_communities': 1}]
    """
    hot = grades.loc[grades["grade"].isin(["medium_high", "high"]), "community_id"]
    m = communities[communities["community_id"].isin(hot)]
    out = m.groupby("city_code").size().rename("hot_communities").reset_index()
    return out.astype({"city_code": "int64", "hot_communities": "int64"})


# ---- the references of docs/methods.md -------------------------------------------------------------------


def china_rule_grade(features: pd.DataFrame, cluster_min_cases: int = 2, high_min_cases: int = 50) -> np.ndarray:
    """China's 2020 area rule applied to a community's confirmed cases of the last 14 days.

    low (0): no new case in 14 days; high (2): more than ``high_min_cases`` and a cluster
    (``>= cluster_min_cases`` cases in the community); medium (1): otherwise. With a community's few
    cases the rule hardly ever says high, which is part of why it is coarse.

    Parameters
    ----------
    features : DataFrame
        At least ``own_7`` and ``own_8_14`` (the community's cases of D-7 .. D-1 and D-14 .. D-8).
    cluster_min_cases : int
        Least number of cases in the community that make a cluster.
    high_min_cases : int
        Cases in 14 days above which the area is high risk.

    Returns
    -------
    ndarray of int
        0 (low), 1 (medium) or 2 (high) per row.

    Examples
    --------
    >>> f = pd.DataFrame({"own_7": [0.0, 1.0, 40.0], "own_8_14": [0.0, 1.0, 20.0]})
    >>> china_rule_grade(f).tolist()
    [0, 1, 2]
    """
    n = features["own_7"].to_numpy(float) + features["own_8_14"].to_numpy(float)
    return np.where(n <= 0, 0, np.where((n > high_min_cases) & (n >= cluster_min_cases), 2, 1))


def cases_only_score(features: pd.DataFrame) -> np.ndarray:
    """The cases-only reference: the community's confirmed cases of the last 14 days per 100k per day.

    Parameters
    ----------
    features : DataFrame
        At least ``own_7``, ``own_8_14`` and ``residents``.

    Returns
    -------
    ndarray of float
        Cases per 100,000 residents per day over the 14 days; NaN where ``residents <= 0``.

    Examples
    --------
    >>> cases_only_score(pd.DataFrame({"own_7": [1.0], "own_8_14": [1.0], "residents": [1000.0]})).round(3).tolist()
    [14.286]
    """
    res = features["residents"].to_numpy(float)
    n = features["own_7"].to_numpy(float) + features["own_8_14"].to_numpy(float)
    return np.where(res > 0, n / 14.0 * PER / np.where(res > 0, res, 1.0), np.nan)
