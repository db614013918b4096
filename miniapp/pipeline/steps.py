"""The engine steps of a build, as small adapters: a build context in, a result out.

Each step takes the read-only :class:`~miniapp.pipeline.context.BuildContext` and returns its result:
a data frame in the snapshot's columns (:data:`miniapp.snapshot.schema.TABLES`) or a small result
type of :mod:`miniapp.pipeline.context` (:class:`CompanionResult`, :class:`ForecastResult`,
:class:`GradesResult`). No step writes into the context; the next step's context carries what the
earlier ones returned. :data:`DEFAULT_STEPS` calls the engine in ``forecast/``; ``run_build(steps=...)``
can replace any step.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from forecast.contacts import STATUS_OK, exposure_tags, find_companions_by_case, find_companions_by_place
from forecast.epidemic import DEFAULT_CONTACTS_PER_CASE, fit, rt_series, seir
from forecast.flows import daily_flows, inflow_from, round_trips, trips
from forecast.grades import DEFAULT_MODEL, grade_communities, home_communities, reasons_json, score_quantiles
from forecast.itinerary import itineraries
from forecast.trips import normalise_carriages, normalise_trip_numbers
from miniapp.pipeline.context import BuildContext, CompanionResult, ForecastResult, GradesResult
from miniapp.pipeline.params import companion_search_args

SNAPSHOT_QUANTILES = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}


# ---- the engine steps (each returns data frames; the defaults call forecast/) -----------------------


def step_itineraries(ctx: BuildContext) -> pd.DataFrame:
    """The 14-day itineraries (:func:`forecast.itinerary.itineraries`) from the city-days."""
    p = ctx.params
    return itineraries(ctx.city_days, ctx.as_of, window_days=p.window_days, min_city_minutes=p.min_city_minutes,
                       tz=p.tz)


def step_flows(ctx: BuildContext) -> pd.DataFrame:
    """Daily city-to-city flows (:func:`forecast.flows.daily_flows`) of the trips between stays."""
    p = ctx.params
    return daily_flows(trips(ctx.stays, min_end_stay_minutes=p.min_trip_stay_minutes, tz=p.tz), tz=p.tz)


def case_companions(stays: pd.DataFrame, cases: pd.DataFrame, ctx: BuildContext, *, n_groups: int = 1, n_batches: int = 1,
                    map_batches: Callable = map) -> pd.DataFrame:
    """Companions and possible companions (``level``) of ``cases`` over the companion stays.

    One batch: the search by place group (:func:`forecast.contacts.partition.find_companions_by_place`;
    one group is one index over all stays, the fastest; more groups, less memory). Several batches:
    the cases dealt into ``n_batches``, run by ``map_batches`` (a process pool's ``map`` runs them side
    by side; :func:`forecast.contacts.batches.find_companions_by_case`). The answer is the same. The
    Dask executor runs the same functions as tasks.
    """
    args = companion_search_args(ctx.params, ctx.as_of)
    if n_batches > 1:
        return find_companions_by_case(stays, cases, ctx.feeds["cells"], n_batches=n_batches,
                                       map_batches=map_batches, n_groups=n_groups, **args)
    return find_companions_by_place(stays, cases, ctx.feeds["cells"], n_groups=n_groups, **args)


def exposure_table(found: pd.DataFrame | None, cases: pd.DataFrame | None, tz: str) -> CompanionResult:
    """The companions step's result from the pairs the search found.

    Companions by the rule (``level == "companion"``, >= ``min_shared_minutes``) become exposure
    tags and exposure rows; possible companions (``level == "possible"``) get their own rows unless
    they are a companion of some case (:func:`exposure_with_possible`). The search's per-case report
    (``found.attrs["case_report"]``, the engine's convention) becomes a field of the result.

    Parameters
    ----------
    found : DataFrame or None
        The search's pairs (``case_id, uid, shared_minutes, first_s, last_s`` and ``level``); None
        when no search ran (no cases, no stays).
    cases : DataFrame or None
        The CASES feed.
    tz : str
        Time zone of the local date of the last exposure.

    Returns
    -------
    CompanionResult
        The snapshot's exposure rows, the companions, the possible companions, their tags and the
        case report.
    """
    if found is None:
        rows = pd.DataFrame({"uid": [], "last_date": [], "minutes": [], "cases": []})
        return CompanionResult(exposure=exposure_with_possible(rows, None, cases, tz))
    report = found.attrs.get("case_report")  # per case: searched, no stays, clipped
    possible_rows = (found["level"] == "possible").to_numpy(bool) if "level" in found.columns \
        else np.zeros(len(found), bool)
    possible = found[possible_rows].reset_index(drop=True)
    companions = found[~possible_rows].reset_index(drop=True)
    for f in (possible, companions):
        f.attrs = {}  # the report is kept once, in the result (frames in attrs do not concatenate)
    tags = exposure_tags(companions, cases, tz=tz)
    rows = pd.DataFrame({"uid": tags["uid"], "last_date": tags["last_exposure_date"], "minutes": tags["minutes"],
                         "cases": tags["n_cases"]})
    return CompanionResult(exposure=exposure_with_possible(rows, possible, cases, tz), companions=companions,
                           possible=possible, tags=tags, case_report=report)


def step_companions(ctx: BuildContext, *, n_batches: int = 1, map_batches: Callable = map) -> CompanionResult:
    """The companions of recent cases and the snapshot's exposure rows (:func:`exposure_table`).

    Runs on ``ctx.companion_stays`` (the companion settings' stays, joined across ping parts) when
    the build made them, else on ``ctx.stays``; ``n_batches``, ``map_batches`` as :func:`case_companions`.
    """
    cases = ctx.feeds.get("cases")
    stays = ctx.stays if ctx.companion_stays is None else ctx.companion_stays
    if cases is None or not len(cases) or not len(stays):
        return exposure_table(None, cases, ctx.params.tz)
    found = case_companions(stays, cases, ctx, n_batches=n_batches, map_batches=map_batches)
    return exposure_table(found, cases, ctx.params.tz)


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
        Possible companions (``case_id, uid, shared_minutes, first_s, last_s``).
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


def step_forecast(ctx: BuildContext) -> ForecastResult:
    """City forecasts (quantiles of daily confirmed), R_t and the daily case series.

    The fit is :func:`forecast.epidemic.fit.forecast_quantiles` over the last 120 days of the
    city_cases feed before D, the cities coupled by this build's flows; close contacts per case are
    the companions step's measured ratio. Without a case series, or when the fit cannot run, the
    result has empty forecasts and a warning saying why.
    """
    p = ctx.params
    cities, series = ctx.feeds["cities"], ctx.feeds.get("city_cases")
    forecasts = pd.DataFrame(columns=["region", "date", *SNAPSHOT_QUANTILES])
    no_rt = pd.DataFrame({"city_code": cities["city_code"], "rt": np.nan, "rt_lo": np.nan, "rt_hi": np.nan,
                          "starred": 0})
    if series is None or not len(series):
        return ForecastResult(forecasts, no_rt, pd.DataFrame(columns=["city_code", "date", "confirmed"]),
                              ("no city_cases feed: no forecast, R_t or case history",),
                              mobility=origin_mobility(ctx, None))
    cum = series.assign(date=pd.to_datetime(series["date"]))
    cum = cum[cum["date"] < pd.Timestamp(ctx.as_of)]
    daily, _log = fit.daily_from_cumulative(cum, region_col="city_code")
    daily = daily.iloc[-120:]
    codes = [int(c) for c in daily.columns]
    pop = cities.set_index("city_code")["population"].reindex(codes).to_numpy(float)
    long = daily.reset_index(names="date").melt("date", var_name="city_code", value_name="confirmed")
    city_cases = long.assign(city_code=long["city_code"].astype("int64"),
                             confirmed=long["confirmed"].round().astype("int64"))
    flows = ctx.flows
    od = fit.od_matrix(flows, codes, day_col="local_date") if flows is not None and len(flows) else None
    basis = close_contacts_basis(ctx.companions)
    try:
        interventions = [iv for name in p.interventions for iv in getattr(seir, name)()]
        table = fit.forecast_quantiles(daily, np.nan_to_num(pop, nan=1e6), od, horizon_days=p.forecast_horizon_days,
                                       n_members=p.n_members, spread_scale=p.forecast_spread_scale,
                                       contacts_per_case=basis["contacts_per_case"],
                                       interventions=interventions)
    except fit.SeriesError as exc:
        return ForecastResult(forecasts, no_rt, city_cases, (f"forecast skipped: {exc}",),
                              series=estimated_series(daily), mobility=origin_mobility(ctx, daily))
    q = table[table["target"] == "confirmed_daily"]
    wide = q.pivot_table(index=["region", "target_date"], columns="quantile", values="value").reset_index()
    fc = pd.DataFrame({"region": "city:" + wide["region"].astype(str), "date": wide["target_date"]})
    for col, level in SNAPSHOT_QUANTILES.items():
        fc[col] = wide[min(wide.columns[2:], key=lambda c: abs(float(c) - level))].to_numpy()
    rt = table[table["target"] == "rt"].pivot_table(index="region", columns="quantile", values="value")
    pick = lambda level: rt[min(rt.columns, key=lambda c: abs(float(c) - level))]  # noqa: E731
    city_risk = pd.DataFrame({"city_code": rt.index.astype("int64"), "rt": pick(0.5).to_numpy(),
                              "rt_lo": pick(0.05).to_numpy(), "rt_hi": pick(0.95).to_numpy(), "starred": 0})
    fs = pd.concat([forecast_series_rows(table), estimated_series(daily)], ignore_index=True)
    return ForecastResult(fc, city_risk, city_cases, series=fs, mobility=origin_mobility(ctx, daily),
                          close_contacts_basis=basis)


SERIES_LEVELS = {"q025": 0.025, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q975": 0.975}


def forecast_series_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The snapshot's ``forecast_series`` rows of the forecast's quantile table (confirmed, close contacts).

    Parameters
    ----------
    table : DataFrame
        :func:`forecast.epidemic.fit.quantile_table` output (regions are city codes).

    Returns
    -------
    DataFrame
        ``city_code, target, date, q025, q25, q50, q75, q975``.
    """
    t = table[table["target"].isin(["confirmed_daily", "close_contacts_daily"])]
    wide = t.pivot_table(index=["region", "target", "target_date"], columns="quantile", values="value").reset_index()
    out = pd.DataFrame({"city_code": wide["region"].astype("int64"), "target": wide["target"],
                        "date": wide["target_date"]})
    levels = [c for c in wide.columns[3:]]
    for col, level in SERIES_LEVELS.items():
        out[col] = wide[min(levels, key=lambda c: abs(float(c) - level))].to_numpy()
    return out


def estimated_series(daily: pd.DataFrame) -> pd.DataFrame:
    """R_t with intervals, growth rate per day and doubling time per city and reported day
    (:mod:`forecast.epidemic.rt_series`; NaN where the window has too few cases).

    Parameters
    ----------
    daily : DataFrame
        Reported daily cases, dates x city codes.

    Returns
    -------
    DataFrame
        ``city_code, target, date, q025 .. q975`` for targets ``rt``, ``growth_rate_per_day`` and
        ``doubling_time_days`` (its quantiles from the growth rate's, reversed; NaN where r <= 0).
    """
    q = rt_series.rt_quantiles(daily, levels=tuple(SERIES_LEVELS.values()))
    frames = []
    blocks = {"rt": [q[lv] for lv in SERIES_LEVELS.values()]}
    blocks["growth_rate_per_day"] = [rt_series.growth_rate(b) for b in blocks["rt"]]
    blocks["doubling_time_days"] = [rt_series.doubling_time_days(b) for b in blocks["growth_rate_per_day"][::-1]]
    for target, qs in blocks.items():
        long = {col: pd.DataFrame(v, index=daily.index, columns=daily.columns).stack(future_stack=True)
                for col, v in zip(SERIES_LEVELS, qs)}
        f = pd.DataFrame(long)
        f = f[f["q50"].notna()].reset_index()
        f.columns = ["date", "city_code", *SERIES_LEVELS]
        frames.append(f.assign(target=target, city_code=f["city_code"].astype("int64")))
    cols = ["city_code", "target", "date", *SERIES_LEVELS]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def origin_mobility(ctx: BuildContext, daily: pd.DataFrame | None) -> pd.DataFrame:
    """Per city and day: travellers arriving from the epidemic origin city and residents who went there
    and came back (:func:`forecast.flows.inflow_from`, :func:`forecast.flows.round_trips`; trips join
    stays of >= ``min_trip_stay_minutes`` at both ends). The origin is the city with the most reported
    cases before D (no setting: the build's own data says where the epidemic is). Counts below the
    small-count threshold are NULL, as every count of people in the snapshot.

    Parameters
    ----------
    ctx : BuildContext
        The build (its flows and stays).
    daily : DataFrame or None
        Reported daily cases, dates x city codes (None: no origin, no rows).

    Returns
    -------
    DataFrame
        ``city_code, date, origin_city_code, outflow, round_trips`` (nullable integers).
    """
    cols = ["city_code", "date", "origin_city_code", "outflow", "round_trips"]
    if daily is None or not daily.shape[1] or daily.to_numpy().sum() <= 0 or ctx.flows is None:
        return pd.DataFrame(columns=cols)
    origin = int(daily.sum().idxmax())
    out = inflow_from(ctx.flows, origin).rename(columns={"destination": "city_code", "trips": "outflow"})
    out = out[["city_code", "local_date", "outflow"]]
    p = ctx.params
    if ctx.stays is not None and len(ctx.stays):
        rt = round_trips(trips(ctx.stays, min_end_stay_minutes=p.min_trip_stay_minutes, tz=p.tz))
        rt = rt[rt["destination"] == origin]
        back = rt.groupby(["origin", "local_date"]).size().rename("round_trips").reset_index()
        out = out.merge(back.rename(columns={"origin": "city_code"}), on=["city_code", "local_date"], how="outer")
    else:
        out = out.assign(round_trips=np.nan)
    out = out.rename(columns={"local_date": "date"}).assign(origin_city_code=origin)
    for c in ("outflow", "round_trips"):
        v = pd.to_numeric(out[c])
        out[c] = v.where(v >= p.small_count).astype("Int64")
    return out[cols].sort_values(["city_code", "date"]).reset_index(drop=True)


def close_contacts_basis(companions: CompanionResult | None) -> dict:
    """What the forecast's expected close contacts are made of: companions per case measured by this
    build's companion search, or the documented national default when the search had no case to measure.

    A case counts once it was searched (``status == "ok"`` in the search's case report: a subscriber
    with stays in the window), with or without companions: a searched case with none is a measured 0.

    Parameters
    ----------
    companions : CompanionResult or None
        The companions step's result.

    Returns
    -------
    dict
        ``contacts_per_case`` (float), ``source`` (``"measured"`` or ``"default"``), ``cases_searched``
        and ``companion_pairs`` (int); the default is :data:`DEFAULT_CONTACTS_PER_CASE`.

    Examples
    --------
    >>> close_contacts_basis(None)["source"], close_contacts_basis(None)["contacts_per_case"]
    ('default', 8.7)
    >>> report = pd.DataFrame({"case_id": ["a", "b", "c"], "status": ["ok", "ok", "no_stays"]})
    >>> pairs = pd.DataFrame({"case_id": ["a", "a", "a"], "uid": [1, 2, 3]})
    >>> b = close_contacts_basis(CompanionResult(pd.DataFrame(), companions=pairs, case_report=report))
    >>> b["source"], b["contacts_per_case"], b["cases_searched"]
    ('measured', 1.5, 2)
    """
    report = None if companions is None else companions.case_report
    searched = 0 if report is None or "status" not in report else int((report["status"] == STATUS_OK).sum())
    if not searched:
        return {"contacts_per_case": DEFAULT_CONTACTS_PER_CASE, "source": "default", "cases_searched": 0,
                "companion_pairs": 0}
    pairs = 0 if companions.companions is None else int(len(companions.companions))
    return {"contacts_per_case": round(pairs / searched, 4), "source": "measured", "cases_searched": searched,
            "companion_pairs": pairs}


def city_growth(forecast: ForecastResult | None, as_of: str) -> pd.Series | None:
    """Weekly growth per city from the forecast: log((forecast D..D+6 + 1) / (reported D-7..D-1 + 1)).

    Parameters
    ----------
    forecast : ForecastResult or None
        The forecast step's result.
    as_of : str
        The query day D.

    Returns
    -------
    Series or None
        Growth per ``city_code``, clipped to [-1, 1]; None without a forecast.
    """
    table = None if forecast is None else forecast.forecasts
    daily = None if forecast is None else forecast.city_cases
    if table is None or daily is None or not len(table) or not len(daily):
        return None
    d = pd.Timestamp(as_of)
    t = table[table["region"].astype(str).str.startswith("city:")]
    t = t.assign(city_code=t["region"].str[5:].astype("int64"), date=pd.to_datetime(t["date"]))
    ahead = t[(t["date"] >= d) & (t["date"] < d + pd.Timedelta(days=7))].groupby("city_code")["q50"].sum()
    dd = daily.assign(date=pd.to_datetime(daily["date"]))
    past = dd[(dd["date"] >= d - pd.Timedelta(days=7)) & (dd["date"] < d)].groupby("city_code")["confirmed"].sum()
    if not len(ahead):
        return None
    return np.log((ahead + 1.0) / (past.reindex(ahead.index).fillna(0.0) + 1.0)).clip(-1.0, 1.0)


def step_grades(ctx: BuildContext) -> GradesResult:
    """Today's grade per community (forecast.grades) and each community's 7-day forecast.

    Homes come from the stays of the itinerary window, exposure from the companions step, imports
    from the itineraries, the city's growth from the forecast (else from the case series). The
    forecast rows (``community:<id>``, same unit as the score) go beside the cities' in the snapshot.
    """
    p = ctx.params
    feeds = ctx.feeds
    end_s = int(pd.Timestamp(ctx.as_of).tz_localize(p.tz).timestamp())
    stays = ctx.stays
    homes = None
    if stays is not None and len(stays):
        recent = stays[(stays["start_s"] < end_s) & (stays["end_s"] > end_s - p.window_days * 86_400)]
        homes = home_communities(recent, tz=p.tz)
    cdays = ctx.city_days
    itin = (itineraries(cdays, ctx.as_of, window_days=p.window_days, min_city_minutes=p.min_city_minutes)
            if cdays is not None and len(cdays) else None)
    tags = None if ctx.companions is None else ctx.companions.tags
    out = grade_communities(feeds["communities"], feeds.get("cells"), feeds.get("cases"), ctx.as_of, homes=homes,
                            exposure=tags, itinerary=itin, city_growth=city_growth(ctx.forecast, ctx.as_of),
                            min_count=p.small_count)
    res = feeds["communities"].set_index("community_id")["population"].reindex(out["community_id"]).to_numpy(float)
    q = score_quantiles(out["expected_infections"].to_numpy(float), res, DEFAULT_MODEL,
                        tuple(SNAPSHOT_QUANTILES.values()))
    ok = np.isfinite(q[:, 2])
    days = pd.date_range(pd.Timestamp(ctx.as_of), periods=7, freq="D").strftime("%Y-%m-%d")
    rows = pd.DataFrame({"region": np.repeat("community:" + out["community_id"][ok].astype(str).to_numpy(), 7),
                         "date": np.tile(days, int(ok.sum()))})
    for j, col in enumerate(SNAPSHOT_QUANTILES):
        rows[col] = np.repeat(q[ok, j], 7)
    out = out.assign(reasons=reasons_json(out["reasons"]))
    return GradesResult(out[["community_id", "score", "grade", "lo", "hi", "trend", "reasons"]], rows)


def step_nearby_cases(ctx: BuildContext, radius_m: float = 3000.0, days: int = 14) -> pd.DataFrame:
    """Per community, the recent cases' home communities within ``radius_m`` (aggregated per place)."""
    from scipy.spatial import cKDTree

    comms, cases = ctx.feeds["communities"], ctx.feeds.get("cases")
    cols = ["community_id", "place", "distance_m", "cases", "last_date"]
    if cases is None or not len(cases):
        return pd.DataFrame(columns=cols)
    start = pd.Timestamp(ctx.as_of) - pd.Timedelta(days=days)
    recent = cases[(cases["confirmed_date"] >= start) & (cases["confirmed_date"] < pd.Timestamp(ctx.as_of))]
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


def step_trips(ctx: BuildContext) -> pd.DataFrame:
    """Confirmed cases per (date, mode, number, car): counts only.

    Numbers and carriages are stored in the normal form of :mod:`forecast.trips` (``G01234`` and
    ``g 1234`` are ``G1234``, ``CCA1234`` is ``CA1234``, ``06车厢`` is ``6``), so that one trip written
    two ways is one row and a query, normalised the same way, finds it.
    """
    trips = ctx.feeds.get("case_trips")
    if trips is None or not len(trips):
        return pd.DataFrame(columns=["date", "mode", "number", "car", "cases"])
    mode = trips["mode"].astype("string").fillna("").str.strip().str.lower()
    car = normalise_carriages(trips["car"]) if "car" in trips else pd.Series("", index=trips.index, dtype=object)
    t = trips.assign(mode=mode, number=normalise_trip_numbers(trips["number"], mode), car=car.fillna(""))
    g = t.groupby(["date", "mode", "number", "car"], dropna=False)["case_id"].nunique().rename("cases").reset_index()
    g["car"] = g["car"].replace("", None)
    return g


DEFAULT_STEPS: dict[str, Callable] = {
    "itineraries": step_itineraries, "flows": step_flows, "companions": step_companions,
    "forecast": step_forecast, "grades": step_grades, "nearby_cases": step_nearby_cases, "trips": step_trips,
}


# ---- grades history, stars ---------------------------------------------------------------------------


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
