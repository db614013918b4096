"""Fitting and judging the grade model on synthetic outbreaks whose future is known.

A *panel* row is one community on one grading day D of one synthetic nation: its features from data
available on D (cases confirmed before D, stays before D through the real engine: stays ->
home communities, stay index -> companions -> exposure tags, city-days -> itineraries) and its label,
the true infections of its residents on D .. D+6. :func:`fit_model` fits the Poisson model of
:mod:`forecast.grades` by maximum likelihood (scipy L-BFGS-B, coefficients >= 0) and the negative
binomial dispersion by moments; :func:`evaluate` gives the AUCs, the calibration table by grade and
the monotonicity test, for the model and the two references.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecast.contacts import StayIndex, exposure_tags, find_companions
from forecast.grades.features import community_features, home_communities
from forecast.grades.model import (HORIZON_DAYS, PER, SOURCES, GradeModel, cases_only_score, china_rule_grade,
                                   grade_of, predict, source_matrix)
from forecast.itinerary import city_days, itineraries
from forecast.schema import GRADE_LEVELS
from forecast.stays import detect_stays
from forecast.synth import NationConfig, generate_nation

#: Small cities (1-2.5 M people, radius ~8-13 km) and large ones (the six most populous, 13-31 M).
SMALL_CITIES = (429004, 429006, 429005, 421300, 420200, 421200)


@dataclass(frozen=True)
class PanelSpec:
    """Which synthetic nation and grading days make a panel."""

    name: str
    seed: int
    city_codes: tuple[int, ...] | None = None
    n_cities: int = 6
    communities_per_city: int = 20
    n_subscribers: int = 8000
    epidemic_days: int = 35
    n_days: int = 28
    window_days: int = 14
    day_step: int = 2  # grading days: as_of - (n_days - window_days), every day_step days, up to as_of
    p_outing: float = 0.15  # outbreak behaviour: fewer outings and evenings out than the synth's defaults
    p_evening: float = 0.1
    ping_interval_minutes: tuple[int, int] = (10, 60)
    transmission_per_hour: float = 0.014

    def config(self):
        """The NationConfig of this panel.

        Examples
        --------
        >>> PanelSpec("small", 1, SMALL_CITIES).config().city_codes[0]
        429004
        """
        return NationConfig(n_cities=self.n_cities, city_codes=self.city_codes, n_subscribers=self.n_subscribers,
                            n_days=self.n_days, epidemic_days=self.epidemic_days, seed=self.seed,
                            communities_per_city=self.communities_per_city, p_outing=self.p_outing,
                            p_evening=self.p_evening, ping_interval_minutes=self.ping_interval_minutes,
                            transmission_per_hour=self.transmission_per_hour)


#: Transmission per infectious person-hour of the outbreaks: the synth's default (a growing outbreak) and half
#: of it, which with the synth's local mixing (places chosen near home) is a waning one (R below 1, as
#: in China from February 2020): it fills the low grades.
TRANSMISSIONS = (0.014, 0.007)


def default_specs(seeds, transmissions=TRANSMISSIONS, **kw) -> list[PanelSpec]:
    """Large-city and small-city nations, fast and slow outbreaks, for each seed (``kw``: PanelSpec fields).

    Parameters
    ----------
    seeds : iterable of int
        Seeds of the synthetic nations, one set of panels per seed.
    transmissions : sequence of float
        Transmission per infectious person-hour of each outbreak; the first is the fast one, the others
        get the name suffix ``-slow``.
    **kw
        Further :class:`PanelSpec` fields, the same for every panel.

    Returns
    -------
    list of PanelSpec
        For each seed and each transmission, a large-city panel (``"large"``: the default cities) then
        a small-city one (``"small"``: :data:`SMALL_CITIES`).

    Examples
    --------
    >>> [s.name for s in default_specs([1])]
    ['large', 'small', 'large-slow', 'small-slow']
    """
    out = []
    for seed in seeds:
        for i, tr in enumerate(transmissions):
            tag = "" if i == 0 else "-slow"
            out += [PanelSpec("large" + tag, seed, None, transmission_per_hour=tr, **kw),
                    PanelSpec("small" + tag, seed, SMALL_CITIES, transmission_per_hour=tr, **kw)]
    return out


def _cases_of(true_infections: pd.DataFrame, before) -> pd.DataFrame:
    """The CASES table a health authority would hold on day ``before`` (confirmed before it)."""
    t = true_infections
    c = t[t["confirmed_date"].notna() & (t["confirmed_date"] < pd.Timestamp(before))]
    return pd.DataFrame({"case_id": "C" + c["uid"].astype(str), "confirmed_date": c["confirmed_date"],
                         "city_code": c["city_code"], "community_id": c["community_id"], "uid": c["uid"]}
                        ).reset_index(drop=True)


def nation_panel(spec: PanelSpec, key: bytes = b"riskcard-grades-eval-key") -> pd.DataFrame:
    """Features and labels of every community on every grading day of one synthetic nation.

    Parameters
    ----------
    spec : PanelSpec
        The synthetic nation and grading days.
    key : bytes
        Pseudonym key of the synthetic nation's numbers (:func:`forecast.synth.generate_nation`).

    Returns
    -------
    DataFrame
        :data:`forecast.grades.features.FEATURES` plus ``date, y`` (true infections of residents on
        D .. D+6), ``panel`` and ``seed``.
    """
    cfg = spec.config()
    nation = generate_nation(cfg, key)
    stays = detect_stays(nation.canonical_pings(), nation.cells, min_stay_minutes=30, radius_m=500,
                         max_gap_minutes=360)
    cdays = city_days(stays, min_city_minutes=0)
    index = StayIndex.build(stays, nation.cells)
    as_of = pd.Timestamp(cfg.as_of)
    days = [as_of - pd.Timedelta(days=k) for k in range(0, spec.n_days - spec.window_days + 1, spec.day_step)]
    tz = pd.Timestamp(0).tz_localize(cfg.tz).tz
    inf = nation.true_infections
    frames = []
    for d in sorted(days):
        d_s = int(d.tz_localize(tz).timestamp())
        w_s = d_s - spec.window_days * 86_400
        recent = stays[(stays["start_s"] < d_s) & (stays["end_s"] > w_s)]
        homes = home_communities(recent, tz=cfg.tz)
        cases = _cases_of(inf, d)
        searched = cases[cases["confirmed_date"] >= d - pd.Timedelta(days=spec.window_days)]
        comp = find_companions(index, searched, window_days=15, min_shared_minutes=60, as_of=d, tz=cfg.tz)
        tags = exposure_tags(comp, cases, tz=cfg.tz)
        itin = itineraries(cdays, d, window_days=spec.window_days)
        f = community_features(nation.communities, nation.cells, cases, d, homes=homes, exposure=tags, itinerary=itin)
        fut = inf[(inf["infected_date"] >= d) & (inf["infected_date"] < d + pd.Timedelta(days=HORIZON_DAYS))]
        y = fut.groupby("community_id").size().reindex(f["community_id"]).fillna(0).to_numpy(float)
        # truth known to no engine, for the ceiling figure only: residents infectious on D and not yet confirmed
        live = inf[(inf["infectious_date"] <= d) & (inf["infected_date"] > d - pd.Timedelta(days=12))
                   & ~(inf["confirmed_date"] < d)]
        oracle = live.groupby("community_id").size().reindex(f["community_id"]).fillna(0).to_numpy(float)
        city_live = live.groupby("city_code").size().reindex(f["city_code"]).fillna(0).to_numpy(float)
        frames.append(f.assign(date=d, y=y, panel=spec.name, seed=spec.seed, oracle_own=oracle, oracle_city=city_live))
    return pd.concat(frames, ignore_index=True)


def build_panels(specs, key: bytes = b"riskcard-grades-eval-key", progress=None) -> pd.DataFrame:
    """Concatenated :func:`nation_panel` of every spec.

    Parameters
    ----------
    specs : iterable of PanelSpec
        The panels to build, in order (e.g. :func:`default_specs`).
    key : bytes
        Pseudonym key of the synthetic nations' numbers.
    progress : callable, optional
        Called with each spec once its panel is built.

    Returns
    -------
    DataFrame
        The rows of every :func:`nation_panel`, in spec order, with a 0-based index.
    """
    out = []
    for s in specs:
        out.append(nation_panel(s, key))
        if progress is not None:
            progress(s)
    return pd.concat(out, ignore_index=True)


def _design(panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = source_matrix(panel)
    return x, panel["growth"].to_numpy(float), panel["density"].to_numpy(float), panel["y"].to_numpy(float)


def fit_model(panel: pd.DataFrame, note: str = "") -> GradeModel:
    """Maximum-likelihood Poisson fit of the grade model (coefficients >= 0), then NB dispersion.

    Rows with no residents are ignored. The coefficients are fitted in units scaled by each
    source's mean so that the optimiser sees numbers of the same size.

    Parameters
    ----------
    panel : DataFrame
        Panel rows (:func:`build_panels`): the FEATURES columns and the label ``y`` (true infections of
        the residents over the 7 days from the grading day).
    note : str
        Free text kept in the model's ``note`` (how it was fitted).

    Returns
    -------
    GradeModel
        ``coef`` per source of :data:`forecast.grades.model.SOURCES` (expected infections per day per
        unit of the source), ``growth`` and ``density`` (each in [0, 3]) and the negative binomial
        ``dispersion`` (clipped to [0.001, 50]).
    """
    from scipy.optimize import minimize

    p = panel[panel["residents"] > 0]
    x, g, dn, y = _design(p)
    scale = np.where(x.mean(axis=0) > 0, y.mean() / np.maximum(x.mean(axis=0), 1e-12) / HORIZON_DAYS, 1.0)
    xs = x * scale * HORIZON_DAYS
    k = xs.shape[1]

    def nll(theta):
        b, tg, td = theta[:k], theta[k], theta[k + 1]
        m = np.exp(tg * g + td * dn)
        a = xs @ b
        mu = np.maximum(a * m, 1e-12)
        r = 1.0 - y / mu
        val = float(np.sum(mu - y * np.log(mu)))
        grad = np.concatenate([(r * m) @ xs, [np.sum(r * mu * g), np.sum(r * mu * dn)]])
        return val, grad

    theta0 = np.r_[np.full(k, 1.0 / k), 0.0, 0.0]
    bounds = [(0.0, None)] * k + [(0.0, 3.0), (0.0, 3.0)]
    res = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000})
    b = res.x[:k] * scale
    model = GradeModel(coef={s: float(v) for s, v in zip(SOURCES, b)}, growth=float(res.x[k]),
                       density=float(res.x[k + 1]), dispersion=1.0, note=note)
    mu = predict(p, model)["mu"]
    alpha = float(np.sum((y - mu) ** 2 - y) / max(np.sum(mu ** 2), 1e-12))
    return replace(model, dispersion=float(np.clip(alpha, 1e-3, 50.0)))


def auc(score, label) -> float:
    """Area under the ROC curve (Mann-Whitney; ties count one half); NaN scores rank lowest.

    Examples
    --------
    >>> auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    >>> auc([1, 1, 1], [0, 1, 1])
    0.5
    """
    from scipy.stats import rankdata

    s = np.nan_to_num(np.asarray(score, float), nan=-np.inf)
    lab = np.asarray(label).astype(bool)
    n1, n0 = int(lab.sum()), int((~lab).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[lab].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration_table(panel: pd.DataFrame, pred: dict) -> pd.DataFrame:
    """Predicted against realised incidence (per 100k per day) and the share of communities with any
    new infection, by grade.

    Examples
    --------
    >>> p = pd.DataFrame({"residents": [1e5, 1e5], "y": [7.0, 70.0]})
    >>> calibration_table(p, {"score": np.array([0.5, 12.0]), "mu": np.array([3.5, 84.0])})["realised"].tolist()
    [1.0, nan, 10.0, nan, nan]
    """
    grade = grade_of(pred["score"])
    p_days = panel["residents"].to_numpy(float) * HORIZON_DAYS
    t = pd.DataFrame({"grade": grade, "mu": pred["mu"], "y": panel["y"].to_numpy(float), "pd": p_days,
                      "any": panel["y"].to_numpy(float) > 0})
    g = t.groupby("grade").agg(n=("y", "size"), mu=("mu", "sum"), y=("y", "sum"), pd=("pd", "sum"), any=("any", "mean"))
    g = g.reindex(list(GRADE_LEVELS))
    return pd.DataFrame({
        "grade": list(GRADE_LEVELS),
        "n": g["n"].fillna(0).astype(int).to_numpy(),
        "predicted": (g["mu"] / g["pd"] * PER).round(2).to_numpy(),
        "realised": (g["y"] / g["pd"] * PER).round(2).to_numpy(),
        "share_with_infection": g["any"].round(3).to_numpy(),
    })


def oracle_auc(panel: pd.DataFrame) -> float:
    """Ceiling: the best AUC of a score that knows who is infectious now (truth no engine has).

    Score = infectious unconfirmed residents per resident x w + the city's infectious per covered
    resident, best of a few weights w. Rows without the oracle columns give NaN.
    """
    if "oracle_own" not in panel:
        return float("nan")
    p = panel[panel["residents"] > 0]
    res = p["residents"].to_numpy(float)
    covered = p.groupby(["panel", "seed", "date", "city_code"])["residents"].transform("sum").to_numpy(float)
    city = p["oracle_city"].to_numpy(float) / covered
    lab = p["y"].to_numpy() > 0
    return max(auc(p["oracle_own"].to_numpy(float) / res * w + city, lab) for w in (0.1, 0.3, 1.0, 3.0, 10.0))


def evaluate(panel: pd.DataFrame, model: GradeModel) -> dict:
    """AUCs (model, China's rule, cases only), calibration by grade, monotonicity and interval coverage.

    Only communities with residents are scored (the others are graded unknown).

    Parameters
    ----------
    panel : DataFrame
        Panel rows (:func:`build_panels`): the FEATURES columns, ``y``, ``panel`` and the oracle columns.
    model : GradeModel
        The model to judge (e.g. from :func:`fit_model`).

    Returns
    -------
    dict
        ``auc``, ``auc_china_rule``, ``auc_cases_only``, ``auc_expected_infections`` and
        ``auc_oracle_ceiling`` (of ``y > 0``); ``monotone`` (realised incidence rises with the grade);
        ``calibration`` (records of the table by grade); ``interval_coverage_90`` (share of ``y`` inside
        the 5 %-95 % interval); ``predicted_total``, ``realised_total`` and ``positive_share``;
        ``by_panel`` (the AUCs and share of positives per panel name); ``n_rows``.
    """
    p = panel[panel["residents"] > 0].reset_index(drop=True)
    pred = predict(p, model)
    lab = p["y"].to_numpy() > 0
    cal = calibration_table(p, pred)
    realised = cal["realised"].to_numpy(float)
    monotone = bool(np.all(np.isfinite(realised)) and np.all(np.diff(realised) > 0))
    y = p["y"].to_numpy(float)
    res = p["residents"].to_numpy(float)
    lo_n, hi_n = pred["lo"] * res * HORIZON_DAYS / PER, pred["hi"] * res * HORIZON_DAYS / PER
    by_panel = {}
    for name, idx in p.groupby("panel").groups.items():
        i = np.asarray(list(idx))
        by_panel[str(name)] = {"auc": round(auc(pred["score"][i], lab[i]), 4),
                               "auc_china_rule": round(auc(china_rule_grade(p.iloc[i]), lab[i]), 4),
                               "auc_cases_only": round(auc(cases_only_score(p.iloc[i]), lab[i]), 4),
                               "auc_oracle_ceiling": round(oracle_auc(p.iloc[i]), 4),
                               "positives": round(float(lab[i].mean()), 3)}
    return {
        "auc": round(auc(pred["score"], lab), 4),
        "auc_china_rule": round(auc(china_rule_grade(p), lab), 4),
        "auc_cases_only": round(auc(cases_only_score(p), lab), 4),
        "auc_expected_infections": round(auc(pred["mu"], lab), 4),
        "auc_oracle_ceiling": round(oracle_auc(p), 4),
        "monotone": monotone,
        "calibration": cal.to_dict("records"),
        "interval_coverage_90": round(float(np.mean((y >= np.round(lo_n) - 1e-9) & (y <= np.round(hi_n) + 1e-9))), 4),
        "predicted_total": round(float(pred["mu"].sum()), 1),
        "realised_total": round(float(y.sum()), 1),
        "positive_share": round(float(lab.mean()), 4),
        "by_panel": by_panel,
        "n_rows": int(len(p)),
    }
