"""The engine steps of a build, as small adapters: build context in, snapshot-ready data frames out.

Each step takes the build context ``ctx`` (``as_of``, ``params``, ``feeds``, ``stays``, ``city_days``,
``flows``, ``forecast``, ``warnings``) and returns data frames in the snapshot's columns
(:data:`miniapp.snapshot_schema.TABLES`). :data:`DEFAULT_STEPS` calls the engine in ``forecast/``; a
step whose engine function does not exist yet raises NotImplementedError saying what is missing, and
``run_build(steps=...)`` can replace any step.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

SNAPSHOT_QUANTILES = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}


@dataclass(frozen=True)
class BuildParams:
    """Parameters of a build (recorded in the snapshot's meta)."""

    window_days: int = 14  # itinerary window D-14 .. D-1
    min_city_minutes: float = 240  # a visited city: >= 4 h on one local day
    min_stay_minutes: float = 30
    stay_radius_m: float = 100  # measured best on the synthetic nation (docs/engine.md)
    max_gap_minutes: float = 720  # nights are silent: a shorter gap loses evening stays
    min_trip_stay_minutes: float = 120  # flows: >= 2 h stays at both ends
    companion_window_days: int = 15
    min_shared_minutes: float = 60  # the rule: a companion shared >= 60 min with a case
    # Companions are searched down to this many minutes; pairs between it and min_shared_minutes are
    # "possible companions", kept apart (not in the exposure table) so the 60-min rule stays the rule
    # while pairs whose sparse-ping estimate fell short are not lost (docs/contacts.md). None: off.
    possible_companion_minutes: float | None = 40
    # Stays for the companion search (forecast.contacts_stays; docs/contacts.md "Stays for the search"):
    # same cell, ended at the next ping elsewhere (no tail: the evening at home runs through the silent
    # night), a missing day does not discard the stay before it. Cached per ping part beside the
    # itinerary's stays and joined across parts.
    companion_min_stay_minutes: float = 15
    companion_stay_radius_m: float | None = None
    companion_max_gap_minutes: float = 2880
    companion_max_tail_minutes: float | None = None
    companion_backfill_minutes: float = 720  # where the data begins: the night before the first ping
    forecast_horizon_days: int = 14
    n_members: int = 100
    # Named intervention schedules of forecast.seir (e.g. "lockdown_2020"); none by default, because a
    # schedule is a fact about the place and period being built, not a model default.
    interventions: tuple[str, ...] = ()
    forecast_spread_scale: float = 1.0  # the filter is calibrated as it is (docs/forecast.md); > 1 widens intervals
    history_days: int = 30
    small_count: int = 3
    keep: int = 3
    tz: str = "Asia/Shanghai"

    @property
    def retention_days(self) -> int:
        """Days of location data any step still needs (the longest window, plus the query day)."""
        return max(self.window_days, self.companion_window_days) + 1


def _engine(module: str, name: str, step: str) -> Callable:
    """An engine function, or NotImplementedError naming what the step is missing."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise NotImplementedError(
            f"build step '{step}' needs {module}.{name}, which does not exist yet; "
            f"pass steps={{'{step}': ...}} to run_build or wire it in miniapp/build.py"
        ) from None


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


# ---- the engine steps (each returns data frames; the defaults call forecast/) -----------------------


def step_itineraries(ctx: dict) -> pd.DataFrame:
    from forecast.itinerary import itineraries

    p: BuildParams = ctx["params"]
    return itineraries(ctx["city_days"], ctx["as_of"], window_days=p.window_days,
                       min_city_minutes=p.min_city_minutes, tz=p.tz)


def step_flows(ctx: dict) -> pd.DataFrame:
    p: BuildParams = ctx["params"]
    trips = _engine("forecast.flows", "trips", "flows")
    daily_flows = _engine("forecast.flows", "daily_flows", "flows")
    return daily_flows(trips(ctx["stays"], min_end_stay_minutes=p.min_trip_stay_minutes, tz=p.tz), tz=p.tz)


def companion_stay_params(p: BuildParams) -> dict:
    """The companion search's stay settings (``BuildParams.companion_*``) as detect_stays arguments."""
    return {"min_stay_minutes": p.companion_min_stay_minutes, "radius_m": p.companion_stay_radius_m,
            "max_gap_minutes": p.companion_max_gap_minutes, "max_tail_minutes": p.companion_max_tail_minutes}


def companion_search_args(ctx: dict) -> dict:
    """The companion search's settings (``BuildParams``) as :mod:`forecast.contacts_partition` arguments."""
    p: BuildParams = ctx["params"]
    return {"window_days": p.companion_window_days, "min_shared_minutes": p.min_shared_minutes,
            "min_possible_minutes": p.possible_companion_minutes, "as_of": ctx["as_of"], "tz": p.tz}


def case_companions(stays: pd.DataFrame, cases: pd.DataFrame, ctx: dict, *, n_groups: int = 1, n_batches: int = 1,
                    map_batches: Callable = map) -> pd.DataFrame:
    """Companions and possible companions (``level``) of ``cases`` over the companion stays.

    One batch: the search by place group (:func:`forecast.contacts_partition.find_companions_by_place`;
    one group is one index over all stays, the fastest; more groups, less memory). Several batches:
    the cases dealt into ``n_batches``, run by ``map_batches`` (a process pool's ``map`` runs them side
    by side; :func:`forecast.contacts_batches.find_companions_by_case`). The answer is the same. The
    Dask executor runs the same functions as tasks.
    """
    if n_batches > 1:
        from forecast.contacts_batches import find_companions_by_case

        return find_companions_by_case(stays, cases, ctx["feeds"]["cells"], n_batches=n_batches,
                                       map_batches=map_batches, n_groups=n_groups, **companion_search_args(ctx))
    from forecast.contacts_partition import find_companions_by_place

    return find_companions_by_place(stays, cases, ctx["feeds"]["cells"], n_groups=n_groups,
                                    **companion_search_args(ctx))


def exposure_table(found: pd.DataFrame | None, cases: pd.DataFrame | None, ctx: dict) -> pd.DataFrame:
    """The snapshot's exposure rows (uid, last_date, minutes, cases) from the companions found.

    Only companions by the rule (``level == "companion"``, >= ``min_shared_minutes``) are exposure
    rows; possible companions go to ``ctx["possible_companions"]`` (the snapshot has no column for
    them yet).
    """
    from forecast.exposure import exposure_tags

    if found is None:
        ctx["possible_companions"] = None
        return pd.DataFrame({"uid": [], "last_date": [], "minutes": [], "cases": []})
    ctx["companion_case_report"] = found.attrs.get("case_report")  # per case: searched, no stays, clipped
    if "level" in found.columns:
        possible = (found["level"] == "possible").to_numpy(bool)
        ctx["possible_companions"] = found[possible].reset_index(drop=True)
        found = found[~possible].reset_index(drop=True)
        for f in (ctx["possible_companions"], found):
            f.attrs = {}  # the case report is kept once, above (frames in attrs do not concatenate)
    tags = exposure_tags(found, cases, tz=ctx["params"].tz)
    ctx["companions"], ctx["exposure_tags"] = found, tags  # the forecast and grades steps use them
    return pd.DataFrame({"uid": tags["uid"], "last_date": tags["last_exposure_date"],
                         "minutes": tags["minutes"], "cases": tags["n_cases"]})


def step_companions(ctx: dict, *, n_batches: int = 1, map_batches: Callable = map) -> pd.DataFrame:
    """Exposure tags (uid, last_date, minutes, cases) of the companions of recent cases.

    Runs on ``ctx["companion_stays"]`` (the companion settings' stays, joined across ping parts) when
    the build made them, else on ``ctx["stays"]``; ``n_batches``, ``map_batches`` as :func:`case_companions`.
    """
    cases = ctx["feeds"].get("cases")
    stays = ctx.get("companion_stays")
    stays = ctx["stays"] if stays is None else stays
    if cases is None or not len(cases) or not len(stays):
        return exposure_table(None, cases, ctx)
    return exposure_table(case_companions(stays, cases, ctx, n_batches=n_batches, map_batches=map_batches), cases, ctx)


def exposure_with_possible(exposure: pd.DataFrame, possible: pd.DataFrame | None, cases: pd.DataFrame | None,
                           tz: str) -> pd.DataFrame:
    """The snapshot's exposure rows: companions (``level="companion"``) and possible companions.

    A possible companion (estimated 40-60 min shared with a case: within the measurement error of
    sparse pings, so maybe truly >= 60) gets a ``level="possible"`` row, summed over its cases like a
    companion's, unless it is a companion of some case already (one row per uid).

    Parameters
    ----------
    exposure : DataFrame
        Companions' rows (``uid, last_date, minutes, cases``) from the companions step.
    possible : DataFrame or None
        ``ctx["possible_companions"]`` (``case_id, uid, shared_minutes, first_s, last_s``).
    cases : DataFrame or None
        The CASES feed (flags companions who are cases).
    tz : str
        Time zone of the local date of the last exposure.

    Returns
    -------
    DataFrame
        ``uid, last_date, minutes, cases, level``; companions first.

    Examples
    --------
    >>> comp = pd.DataFrame({"uid": [1], "last_date": ["2020-02-01"], "minutes": [70.0], "cases": [1]})
    >>> poss = pd.DataFrame({"case_id": ["a", "a"], "uid": [1, 2], "shared_minutes": [45.0, 50.0],
    ...                      "first_s": [1_580_000_000] * 2, "last_s": [1_580_003_000] * 2})
    >>> exposure_with_possible(comp, poss, None, "Asia/Shanghai")[["uid", "minutes", "level"]].to_dict("records")
    [{'uid': 1, 'minutes': 70.0, 'level': 'companion'}, {'uid': 2, 'minutes': 50.0, 'level': 'possible'}]
    """
    from forecast.exposure import exposure_tags

    out = exposure.assign(level="companion")
    if possible is None or not len(possible):
        return out
    possible = possible[~possible["uid"].isin(exposure["uid"])]
    if not len(possible):
        return out
    tags = exposure_tags(possible, cases, tz=tz)
    extra = pd.DataFrame({"uid": tags["uid"], "last_date": tags["last_exposure_date"], "minutes": tags["minutes"],
                          "cases": tags["n_cases"], "level": "possible"})
    if not len(out):
        return extra
    return pd.concat([out, extra], ignore_index=True)


def step_forecast(ctx: dict) -> dict[str, pd.DataFrame]:
    """City forecasts (quantiles of daily confirmed), R_t and the daily case series."""
    from forecast import fit

    p: BuildParams = ctx["params"]
    cities, series = ctx["feeds"]["cities"], ctx["feeds"].get("city_cases")
    empty = {"forecasts": pd.DataFrame(columns=["region", "date", *SNAPSHOT_QUANTILES]),
             "city_risk": pd.DataFrame({"city_code": cities["city_code"], "rt": np.nan, "rt_lo": np.nan,
                                        "rt_hi": np.nan, "starred": 0}),
             "city_cases": pd.DataFrame(columns=["city_code", "date", "confirmed"])}
    if series is None or not len(series):
        ctx["warnings"].append("no city_cases feed: no forecast, R_t or case history")
        return empty
    cum = series.assign(date=pd.to_datetime(series["date"]))
    cum = cum[cum["date"] < pd.Timestamp(ctx["as_of"])]
    daily, _log = fit.daily_from_cumulative(cum, region_col="city_code")
    daily = daily.iloc[-120:]
    codes = [int(c) for c in daily.columns]
    pop = cities.set_index("city_code")["population"].reindex(codes).to_numpy(float)
    long = daily.reset_index(names="date").melt("date", var_name="city_code", value_name="confirmed")
    empty["city_cases"] = long.assign(city_code=long["city_code"].astype("int64"),
                                      confirmed=long["confirmed"].round().astype("int64"))
    flows = ctx.get("flows")
    od = None
    if flows is not None and len(flows):
        pos = pd.Series(np.arange(len(codes)), index=codes)
        f = flows[flows["origin"].isin(pos.index) & flows["destination"].isin(pos.index)]
        od = np.zeros((len(codes), len(codes)))
        np.add.at(od, (pos[f["origin"]].to_numpy(), pos[f["destination"]].to_numpy()),
                  f["trips"].to_numpy(float) / max(1, f["local_date"].nunique()))
    try:
        from forecast import seir

        interventions = [iv for name in p.interventions for iv in getattr(seir, name)()]
        result = fit.fit_eakf(daily, np.nan_to_num(pop, nan=1e6), od, n_members=p.n_members, interventions=interventions)
        samples = fit.forecast_samples(result, p.forecast_horizon_days, od)
        table = fit.quantile_table(result, samples, spread_scale=p.forecast_spread_scale,
                                   contacts_per_case=_contacts_per_case(ctx))
    except fit.SeriesError as exc:
        ctx["warnings"].append(f"forecast skipped: {exc}")
        return empty
    q = table[table["target"] == "confirmed_daily"]
    wide = q.pivot_table(index=["region", "target_date"], columns="quantile", values="value").reset_index()
    fc = pd.DataFrame({"region": "city:" + wide["region"].astype(str), "date": wide["target_date"]})
    for col, level in SNAPSHOT_QUANTILES.items():
        fc[col] = wide[min(wide.columns[2:], key=lambda c: abs(float(c) - level))].to_numpy()
    rt = table[table["target"] == "rt"].pivot_table(index="region", columns="quantile", values="value")
    pick = lambda level: rt[min(rt.columns, key=lambda c: abs(float(c) - level))]  # noqa: E731
    city_risk = pd.DataFrame({"city_code": rt.index.astype("int64"), "rt": pick(0.5).to_numpy(),
                              "rt_lo": pick(0.05).to_numpy(), "rt_hi": pick(0.95).to_numpy(), "starred": 0})
    return {"forecasts": fc, "city_risk": city_risk, "city_cases": empty["city_cases"]}


def _contacts_per_case(ctx: dict) -> float:
    """Companions per case measured by this build's companion search, or the documented default."""
    from forecast.fit import DEFAULT_CONTACTS_PER_CASE

    found = ctx.get("companions")
    found = found.get("companions") if isinstance(found, dict) else found
    if found is None or not len(found) or "case_id" not in found:
        return DEFAULT_CONTACTS_PER_CASE
    return float(len(found)) / max(1, found["case_id"].nunique())


def _city_growth(ctx: dict) -> pd.Series | None:
    """Weekly growth per city from the forecast: log((forecast D..D+6 + 1) / (reported D-7..D-1 + 1))."""
    fc = ctx.get("forecast") or {}
    table, daily = fc.get("forecasts"), fc.get("city_cases")
    if table is None or daily is None or not len(table) or not len(daily):
        return None
    d = pd.Timestamp(ctx["as_of"])
    t = table[table["region"].astype(str).str.startswith("city:")]
    t = t.assign(city_code=t["region"].str[5:].astype("int64"), date=pd.to_datetime(t["date"]))
    ahead = t[(t["date"] >= d) & (t["date"] < d + pd.Timedelta(days=7))].groupby("city_code")["q50"].sum()
    dd = daily.assign(date=pd.to_datetime(daily["date"]))
    past = dd[(dd["date"] >= d - pd.Timedelta(days=7)) & (dd["date"] < d)].groupby("city_code")["confirmed"].sum()
    if not len(ahead):
        return None
    return np.log((ahead + 1.0) / (past.reindex(ahead.index).fillna(0.0) + 1.0)).clip(-1.0, 1.0)


def step_grades(ctx: dict) -> pd.DataFrame:
    """Today's grade per community: community_id, score, grade, lo, hi, trend, reasons (forecast.grades).

    Homes come from the stays of the itinerary window, exposure from the companions step, imports
    from the itineraries, the city's growth from the forecast (else from the case series). Also adds
    each community's 7-day forecast (same unit as the score) to ``ctx["forecast"]["forecasts"]`` as
    ``community:<id>`` rows.
    """
    from forecast.grades import DEFAULT_MODEL, grade_communities, home_communities, reasons_json, score_quantiles
    from forecast.itinerary import itineraries

    p: BuildParams = ctx["params"]
    feeds = ctx["feeds"]
    end_s = int(pd.Timestamp(ctx["as_of"]).tz_localize(p.tz).timestamp())
    stays = ctx.get("stays")
    homes = None
    if stays is not None and len(stays):
        recent = stays[(stays["start_s"] < end_s) & (stays["end_s"] > end_s - p.window_days * 86_400)]
        homes = home_communities(recent, tz=p.tz)
    cdays = ctx.get("city_days")
    itin = (itineraries(cdays, ctx["as_of"], window_days=p.window_days, min_city_minutes=p.min_city_minutes)
            if cdays is not None and len(cdays) else None)
    out = grade_communities(feeds["communities"], feeds.get("cells"), feeds.get("cases"), ctx["as_of"], homes=homes,
                            exposure=ctx.get("exposure_tags"), itinerary=itin, city_growth=_city_growth(ctx))
    fc = ctx.get("forecast")
    if isinstance(fc, dict) and "forecasts" in fc:
        res = feeds["communities"].set_index("community_id")["population"].reindex(out["community_id"]).to_numpy(float)
        q = score_quantiles(out["expected_infections"].to_numpy(float), res, DEFAULT_MODEL,
                            tuple(SNAPSHOT_QUANTILES.values()))
        ok = np.isfinite(q[:, 2])
        days = pd.date_range(pd.Timestamp(ctx["as_of"]), periods=7, freq="D").strftime("%Y-%m-%d")
        rows = pd.DataFrame({"region": np.repeat("community:" + out["community_id"][ok].astype(str).to_numpy(), 7),
                             "date": np.tile(days, int(ok.sum()))})
        for j, col in enumerate(SNAPSHOT_QUANTILES):
            rows[col] = np.repeat(q[ok, j], 7)
        fc["forecasts"] = pd.concat([fc["forecasts"], rows], ignore_index=True) if len(fc["forecasts"]) else rows
    out = out.assign(reasons=reasons_json(out["reasons"]))
    return out[["community_id", "score", "grade", "lo", "hi", "trend", "reasons"]]


def step_nearby_cases(ctx: dict, radius_m: float = 3000.0, days: int = 14) -> pd.DataFrame:
    """Per community, the recent cases' home communities within ``radius_m`` (aggregated per place)."""
    from scipy.spatial import cKDTree

    comms, cases = ctx["feeds"]["communities"], ctx["feeds"].get("cases")
    cols = ["community_id", "place", "distance_m", "cases", "last_date"]
    if cases is None or not len(cases):
        return pd.DataFrame(columns=cols)
    start = pd.Timestamp(ctx["as_of"]) - pd.Timedelta(days=days)
    recent = cases[(cases["confirmed_date"] >= start) & (cases["confirmed_date"] < pd.Timestamp(ctx["as_of"]))]
    places = recent.groupby("community_id").agg(cases=("case_id", "nunique"), last_date=("confirmed_date", "max"))
    places = places.join(comms.set_index("community_id")[["name", "lon", "lat"]], how="inner").reset_index()
    if not len(places):
        return pd.DataFrame(columns=cols)
    lat0 = np.deg2rad(float(comms["lat"].mean()))

    def xy(df):
        return np.c_[df["lon"].to_numpy() * 111_320.0 * np.cos(lat0), df["lat"].to_numpy() * 110_540.0]

    pairs = cKDTree(xy(places)).sparse_distance_matrix(cKDTree(xy(comms)), radius_m, output_type="coo_matrix")
    out = pd.DataFrame({"community_id": comms["community_id"].to_numpy()[pairs.col],
                        "place": places["name"].to_numpy()[pairs.row],
                        "distance_m": np.round(pairs.data, 0), "cases": places["cases"].to_numpy()[pairs.row],
                        "last_date": places["last_date"].to_numpy()[pairs.row]})
    same = comms["community_id"].to_numpy()[pairs.col] == places["community_id"].to_numpy()[pairs.row]
    own = pd.DataFrame({"community_id": places["community_id"], "place": places["name"], "distance_m": 0.0,
                        "cases": places["cases"], "last_date": places["last_date"]})
    return pd.concat([own, out[~same]], ignore_index=True).sort_values(["community_id", "distance_m"])


def step_trips(ctx: dict) -> pd.DataFrame:
    """Confirmed cases per (date, mode, number, car): counts only."""
    trips = ctx["feeds"].get("case_trips")
    if trips is None or not len(trips):
        return pd.DataFrame(columns=["date", "mode", "number", "car", "cases"])
    t = trips.assign(number=trips["number"].astype(str).str.upper().str.replace(" ", "", regex=False),
                     car=trips["car"].astype("string").fillna("").str.strip().str.upper()
                     if "car" in trips else "")
    g = t.groupby(["date", "mode", "number", "car"], dropna=False)["case_id"].nunique().rename("cases").reset_index()
    g["car"] = g["car"].replace("", None)
    return g


DEFAULT_STEPS: dict[str, Callable] = {
    "itineraries": step_itineraries, "flows": step_flows, "companions": step_companions,
    "forecast": step_forecast, "grades": step_grades, "nearby_cases": step_nearby_cases, "trips": step_trips,
}


# ---- grades history, stars ---------------------------------------------------------------------------


def grades_with_history(today: pd.DataFrame, cache_dir: Path, as_of: str, history_days: int) -> pd.DataFrame:
    """Today's grades saved to the cache, joined with the cached grades of the previous days."""
    gdir = cache_dir / "grades"
    gdir.mkdir(parents=True, exist_ok=True)
    today = today.assign(date=as_of)
    if "trend" not in today or today["trend"].isna().all():
        today = today.assign(trend=None)
    cols = ["community_id", "date", "score", "grade", "lo", "hi", "trend", "reasons"]
    today = today.reindex(columns=cols)
    first = (date.fromisoformat(as_of) - timedelta(days=history_days - 1)).isoformat()
    past = []
    for p in sorted(gdir.glob("*.parquet")):
        if first <= p.stem < as_of:
            past.append(pd.read_parquet(p, columns=["community_id", "date", "score", "grade"]))
        elif p.stem < first:
            p.unlink()  # outside every history the pages show
    week_ago = (date.fromisoformat(as_of) - timedelta(days=7)).isoformat()
    hist = pd.concat(past, ignore_index=True) if past else pd.DataFrame(columns=["community_id", "date", "score"])
    ref = hist[hist["date"] == week_ago].set_index("community_id")["score"]
    if len(ref):
        before = ref.reindex(today["community_id"]).to_numpy(float)
        now = today["score"].to_numpy(float)
        from forecast.grades import trend_labels

        trend = trend_labels(now, before)
        today["trend"] = today["trend"].where(today["trend"].notna(), pd.Series(trend, index=today.index))
    today["trend"] = today["trend"].fillna("flat")
    to_save = today.copy()
    to_save["reasons"] = to_save["reasons"].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v))
    _atomic_parquet(to_save, gdir / f"{as_of}.parquet")
    return pd.concat([hist.reindex(columns=cols), today], ignore_index=True)


def star_cities(city_risk: pd.DataFrame, cities: pd.DataFrame, grades_today: pd.DataFrame,
                communities: pd.DataFrame) -> pd.DataFrame:
    """city_risk for every city, starred when it has a community graded medium-high or high."""
    hot = grades_today[grades_today["grade"].isin(["medium_high", "high"])]["community_id"]
    starred = set(communities[communities["community_id"].isin(hot)]["city_code"].astype(int))
    out = city_risk.drop(columns=["starred"], errors="ignore").set_index("city_code").reindex(
        cities["city_code"].to_numpy())
    out.index.name = "city_code"
    out = out.reset_index()
    out["starred"] = out["city_code"].isin(starred).astype(int)
    return out
