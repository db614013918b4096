"""Early warning from Wuhan's outflow: rank provinces and cities by the cases they will have reported.

From origins 2020-01-15, 01-18 and 01-21 (data up to the origin only: Wuhan's reported counts, the
outflow shares and index up to that day; after it travellers stay at the mean of the last 3 days and
no lockdown is assumed), rank destinations by cumulative confirmed cases reported by 01-31 and by
02-10. Three rankings in the same run:

* ``model``: :func:`forecast.epidemic.importation.importation_forecast` (median), plus the cases
  already reported at the origin;
* ``inflow_only``: cases in proportion to Wuhan's travellers to the destination from 2020-01-01 to the
  origin (scaled to the model's total, so that the share within 2x compares the allocation);
* ``persistence``: the cumulative count reported at the origin (0 before a destination's first report).

Provinces: the 30 mainland provinces other than Hubei (Hubei itself is excluded from the destination
ranking: it contains the origin). Cities: the Baidu destinations of Wuhan (top-100 a day, any day up to
the origin) with a population in the li2020 table, Wuhan excluded; ``cities_outside_hubei`` also
excludes the other Hubei cities. ``within_2x``: share of destinations with cases at the target whose
median is within a factor 2 of the reported count. Parameters are fixed before looking at any target:
5 million left Wuhan from 01-10 to 01-22 (calibration of the index), Li et al. 2020 priors and seeds.

Usage: ``.venv/bin/python benchmarks/importation.py [--quick]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.epidemic import china2020, importation  # noqa: E402

ORIGINS = ("2020-01-15", "2020-01-18", "2020-01-21")
TARGETS = ("2020-01-31", "2020-02-10")
WUHAN = 420100


def cum_at(cum: pd.DataFrame, key: str, names: list, date) -> np.ndarray:
    """Cumulative reported by ``date`` (last row on or before it; 0 before the first row)."""
    c = cum[cum["date"] <= pd.Timestamp(date)].sort_values("date").groupby(key)["confirmed"].max()
    return c.reindex(names).fillna(0.0).to_numpy(float)


def scores(pred: np.ndarray, obs: np.ndarray) -> dict:
    pos = obs > 0
    rho = spearmanr(pred, obs)[0] if np.ptp(pred) > 0 else float("nan")
    ratio = pred[pos] / obs[pos]
    return {"spearman": None if np.isnan(rho) else round(float(rho), 4),
            "within_2x": round(float(np.mean((ratio >= 0.5) & (ratio <= 2.0))), 4)}


def province_inputs():
    k = china2020.read_kraemer_province_outflow()
    k = k[k["province"] != "Hubei"]
    wide = k.pivot(index="date", columns="province", values="scale").sort_index().fillna(0.0)
    per = importation.persons_per_index(china2020.read_kraemer_scale())
    trav = wide * per
    cum = china2020.read_province_cum()
    pop = china2020.province_population(list(trav.columns))
    return trav, pop, cum, "province"


def city_inputs():
    sh = china2020.read_wuhan_outflow_shares()
    names = china2020.city_codes_by_name()
    sh = sh.merge(names, left_on="destination", right_on="city_zh")
    sh = sh[sh["city_code"] != WUHAN]
    wide = sh.pivot_table(index="date", columns="city_code", values="pct_of_origin_outflow", aggfunc="sum")
    scale = china2020.read_kraemer_scale()
    trav = importation.travellers(wide.fillna(0.0), scale, importation.persons_per_index(scale))
    pop = names.set_index("city_code")["population"].reindex(trav.columns).to_numpy(float)
    cum = china2020.read_city_cum()
    return trav, pop, cum, "city_code"


def run(quick: bool) -> dict:
    inc = china2020.read_li2020_incidence()
    wuhan = inc["Wuhan"]
    wuhan = wuhan.iloc[:, 0] if wuhan.ndim > 1 else wuhan
    wuhan_pop = float(china2020.read_li2020_population()["Wuhan"])
    hubei = set(china2020.city_codes_by_name().query("province == 'Hubei'")["city_code"])
    out: dict = {}
    kw = {"n_members": 100, "n_prior": 1000} if quick else {"n_members": 300, "n_prior": 4000}
    for level, make in (("provinces", province_inputs), ("cities", city_inputs)):
        trav_all, pop, cum, key = make()
        for origin in ORIGINS:
            t0 = time.perf_counter()
            seen = trav_all.loc[:origin]
            cols = list(seen.columns[seen.sum() > 0])  # destinations known at the origin
            trav = importation.extend_after(seen[cols], origin, TARGETS[-1])
            pick = [list(trav_all.columns).index(c) for c in cols]
            imp = importation.importation_forecast(wuhan.loc[:origin], wuhan_pop, trav.loc["2020-01-10":],
                                                   pop[pick], origin, TARGETS[-1], **kw)
            obs0 = cum_at(cum, key, cols, origin)
            inflow = seen[cols].sum().to_numpy(float)
            for target in TARGETS:
                obs = cum_at(cum, key, cols, target)
                q = importation.cumulative_by(imp, target, obs0, origin)
                model = q["reported_q50"].to_numpy()
                sets = {level: np.ones(len(cols), bool)}
                if level == "cities":
                    sets["cities_outside_hubei"] = ~np.isin(cols, list(hubei))
                for name, sel in sets.items():
                    share = inflow[sel] / inflow[sel].sum()
                    res = {"model": scores(model[sel], obs[sel]),
                           "inflow_only": scores(share * model[sel].sum(), obs[sel]),
                           "persistence": scores(obs0[sel], obs[sel])}
                    inside = (obs[sel] >= q["reported_q025"].to_numpy()[sel]) & \
                             (obs[sel] <= q["reported_q975"].to_numpy()[sel])
                    res["model"]["coverage_95"] = round(float(inside.mean()), 4)
                    res["n_destinations"] = int(sel.sum())
                    res["model_total"] = round(float(model[sel].sum()), 1)
                    res["observed_total"] = round(float(obs[sel].sum()), 1)
                    res["origin_fit_ess"] = round(imp.ess, 1)
                    res["seconds"] = round(time.perf_counter() - t0, 2)
                    out.setdefault(name, {}).setdefault(f"from_{origin}", {})[f"by_{target}"] = res
    head = out["provinces"]["from_2020-01-21"]["by_2020-02-10"]
    return {"spearman_model": head["model"]["spearman"],
            "spearman_inflow_only": head["inflow_only"]["spearman"],
            "spearman_persistence": head["persistence"]["spearman"],
            "within_2x_model": head["model"]["within_2x"],
            "within_2x_inflow_only": head["inflow_only"]["within_2x"],
            "within_2x_persistence": head["persistence"]["within_2x"],
            "quick": quick, "hubei_excluded_from_province_ranking": True, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer members (same keys), under a minute")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = run(args.quick)
    res["total_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
