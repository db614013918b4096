"""Benchmark: companion search (forecast.contacts) speed and accuracy.

Speed: the stays of one city (default 1M subscribers x 15 days, generated directly and vectorised:
about 3.3 stays per subscriber-day at home, work and lunch places, ~50M stays) -> index build, one
case, a batch of 1,000 cases, and the same at half the city to measure growth (time(N) / time(N/2),
i.e. the city doubling; 2M subscribers would not fit the 8 GB budget).

Accuracy: against the synthetic nation's true contacts (forecast.synth), companion stays made as the
build makes them (one ping part per local day, forecast.contacts.stays); recall and precision for true
shared time >= 60 min at three samplings (ping intervals 5-60, 30-120, 60-240 minutes), for the rule
(>= 60 min) and with possible companions (>= 40 min), against the raw truth and against the truth cut
to what pings can show (visible).

    .venv/bin/python benchmarks/contacts.py            # full (1M subscribers)
    .venv/bin/python benchmarks/contacts.py --quick    # < 1 min
    .venv/bin/python benchmarks/contacts.py --silent-days      # adds silent days (~10 min)

Place (``places``): the search's place as the cell or as the site (forecast.stays.sites), on the
synth's pings as generated and with radio ping-pong (``--pingpong RATE``, default 0.7), same truth.

Silent days (``--silent-days``, off by default): bridged as today, cut out, or imputed from each
subscriber's routine (forecast.contacts.impute); the routine threshold is chosen on seed 1 and the
figures are reported on the held-out seed 2 (key ``silent_days``; docs/contacts.md).

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.contacts import StayIndex
from forecast.contacts import companion_accuracy
from forecast.contacts import find_companions  # noqa: E402
from forecast.contacts import true_companions, visible_true_stays  # noqa: E402
from forecast.contacts import join_contact_stays, part_contact_stays  # noqa: E402
from forecast.stays import CellTable  # noqa: E402

T0 = int(pd.Timestamp("2020-01-05", tz="Asia/Shanghai").timestamp())
DAY = 86_400
SAMPLINGS = {"5-60": (5, 60), "30-120": (30, 120), "60-240": (60, 240)}


# ---- speed: a city's stays, generated directly --------------------------------------------------
def city_stays(n_subs: int, n_days: int, *, seed: int = 1, subs_per_cell: int = 200) -> pd.DataFrame:
    """Stays of ``n_subs`` subscribers over ``n_days``: night/evening at home, day at work or shops.

    Each subscriber-day has 5 slots (night home, morning, lunch, afternoon, evening home); the day
    slots are skipped at random (the subscriber stays where they were). Consecutive slots at one cell
    are one stay (the evening and the night at home too): about 3.3 stays per subscriber-day. Homes
    and workplaces are spread evenly over ``n_subs / subs_per_cell`` cells; lunch is mostly near the
    morning's place.
    """
    rng = np.random.default_rng(seed)
    n_cells = max(n_subs // subs_per_cell, 10)
    home = rng.integers(0, n_cells, n_subs)
    work = rng.integers(0, n_cells, n_subs)
    # slot bounds in minutes after local midnight, +-10 min jitter; gaps between slots are travel
    slot_lo = np.array([0, 8 * 60 + 30, 12 * 60, 13 * 60 + 30, 19 * 60])
    slot_hi = np.array([7 * 60 + 30, 11 * 60 + 30, 13 * 60, 18 * 60, 24 * 60 - 1])
    # filled day by day into (subscriber, day * 5 + slot): row-major order is (uid, time) already
    S, E, C = (np.empty((n_subs, n_days * 5), dtype=np.int64) for _ in range(3))
    uid = np.arange(n_subs, dtype=np.int64) * 7919 + 1_000_003  # sparse, sorted pseudonyms
    for d in range(n_days):
        s = T0 + d * DAY + slot_lo * 60 + rng.integers(-10, 11, (n_subs, 5)) * 60
        e = T0 + d * DAY + slot_hi * 60 + rng.integers(-10, 11, (n_subs, 5)) * 60
        s[:, 0] = T0 + d * DAY  # the night starts at midnight ...
        e[:, 4] = T0 + d * DAY + DAY - 60  # ... and the evening ends just before it
        cell = np.empty((n_subs, 5), dtype=np.int64)
        cell[:, 0] = cell[:, 4] = home
        at_work = rng.random(n_subs) < 0.7
        cell[:, 1] = cell[:, 3] = np.where(at_work, work, rng.integers(0, n_cells, n_subs))
        near = (cell[:, 1] + rng.integers(-3, 4, n_subs)) % n_cells  # lunch near the day's place
        cell[:, 2] = np.where(rng.random(n_subs) < 0.8, near, rng.integers(0, n_cells, n_subs))
        for j in (1, 2, 3):  # a skipped slot: the subscriber stays where they were
            skip = rng.random(n_subs) < 0.15
            cell[skip, j] = cell[skip, j - 1]
        S[:, d * 5:(d + 1) * 5], E[:, d * 5:(d + 1) * 5], C[:, d * 5:(d + 1) * 5] = s, e, cell + 100_000
    S, E, C = S.reshape(-1), E.reshape(-1), C.reshape(-1)
    first = np.ones(len(C), dtype=bool)  # merge consecutive slots at one cell into one stay
    first[1:] = C[1:] != C[:-1]
    first[:: n_days * 5] = True  # a new subscriber
    head = np.flatnonzero(first)
    del first
    tail = np.append(head[1:] - 1, len(C) - 1)
    return pd.DataFrame({"uid": uid[head // (n_days * 5)], "start_s": S[head], "end_s": E[tail], "cell_id": C[head]})


def speed(n_subs: int, n_days: int, n_batch: int, seed: int, subs_per_cell: int = 200) -> dict:
    stays = city_stays(n_subs, n_days, seed=seed, subs_per_cell=subs_per_cell)
    n_stays = len(stays)
    t = time.perf_counter()
    idx = StayIndex.build(stays)
    build_s = time.perf_counter() - t
    uids = stays["uid"].to_numpy()
    del stays
    gc.collect()
    rng = np.random.default_rng(seed + 1)
    day = pd.Timestamp(T0 + n_days * DAY - DAY, unit="s", tz="UTC").tz_convert("Asia/Shanghai").tz_localize(None)
    chosen = rng.choice(np.unique(uids), n_batch + 1, replace=False)
    cases = pd.DataFrame(
        {"case_id": [f"c{i}" for i in range(n_batch + 1)], "uid": chosen, "confirmed_date": day.normalize()}
    )
    one_s, batch_s = [], []
    for rep in range(2):  # best of two: the machine is shared
        t = time.perf_counter()
        one = find_companions(idx, cases.iloc[rep : rep + 1])
        one_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        batch = find_companions(idx, cases.iloc[1:])
        batch_s.append(time.perf_counter() - t)
    one_s, batch_s = min(one_s), min(batch_s)
    return {
        "n_subscribers": n_subs,
        "n_stays": n_stays,
        "build_s": build_s,
        "one_case_s": one_s,
        "one_case_companions": len(one),
        "batch_s": batch_s,
        "batch_cases": n_batch,
        "batch_companions": len(batch),
    }


# ---- accuracy: the build's path on the synthetic nation ---------------------------------------------
SEARCH_THRESHOLDS = (60, 50, 40, 30)
POSSIBLE_MINUTES = 40  # BuildParams.possible_companion_minutes


def build_path_stays(pings: pd.DataFrame, cells: pd.DataFrame, tz: str = "Asia/Shanghai", **overrides) -> pd.DataFrame:
    """Companion stays as the build makes them: one ping part per local day, joined across midnight
    (``overrides``: other ``BuildParams`` values, e.g. ``companion_site_radius_m=None``)."""
    from miniapp.pipeline.params import BuildParams, companion_stay_params

    p = replace(BuildParams(), **overrides)
    table = CellTable(cells)
    day = pd.to_datetime(pings["ts_s"], unit="s", utc=True).dt.tz_convert(tz).dt.date
    params = companion_stay_params(p)
    parts = [part_contact_stays(g, table, **params) for _, g in pings.groupby(day, sort=True)]
    return join_contact_stays(pd.concat(parts, ignore_index=True), min_stay_minutes=params["min_stay_minutes"],
                              max_gap_minutes=params["max_gap_minutes"], max_tail_minutes=params["max_tail_minutes"],
                              backfill_minutes=p.companion_backfill_minutes, tz=tz)


def accuracy_synth(n_subs: int, seed: int, min_pings: int) -> dict:
    """Recall/precision against forecast.synth's true contacts (raw) and the truth cut to what pings can
    show (visible: from each subscriber's first to last ping, minus silences over 16 h)."""
    from forecast.phones import pseudonymise_series
    from forecast.synth import NationConfig, generate_nation

    key = b"k" * 32
    out = {}
    for name, interval in SAMPLINGS.items():
        cfg = NationConfig(n_subscribers=n_subs, n_cities=2, n_days=14, seed=seed, ping_interval_minutes=interval)
        nation = generate_nation(cfg, pseudonym_key=key)
        uid, err = pseudonymise_series(nation.cases["msisdn"], key)
        cases = nation.cases.assign(uid=uid, confirmed_date=pd.to_datetime(nation.cases["confirmed_date"]))
        pings = nation.canonical_pings()
        idx = StayIndex.build(build_path_stays(pings, nation.cells), nation.cells, min_pings=min_pings)
        found_all = find_companions(idx, cases, as_of=pd.Timestamp(cfg.as_of),
                                    min_possible_minutes=min(SEARCH_THRESHOLDS))
        report = found_all.attrs["case_report"]
        vis_truth = true_companions(visible_true_stays(nation.true_stays, pings), report)
        found = found_all[found_all["shared_minutes"] >= 60]
        acc = companion_accuracy(found, nation.true_contacts)
        acc["cases"] = int(len(cases))
        vis = companion_accuracy(found, vis_truth)
        acc["recall_visible"], acc["precision_visible"] = vis["recall"], vis["precision"]
        # companions and possible companions (the build's policy), scored against true >= 60 min
        f = found_all[found_all["shared_minutes"] >= POSSIBLE_MINUTES].assign(shared_minutes=60.0)
        a, v = companion_accuracy(f, nation.true_contacts), companion_accuracy(f, vis_truth)
        acc.update(recall_with_possible=a["recall"], precision_with_possible=a["precision"],
                   recall_with_possible_visible=v["recall"], precision_with_possible_visible=v["precision"])
        # the best any ping-based search could do: true pairs >= 60 min whose visible time is >= 60 min
        n_visible = int((vis_truth["shared_minutes"] >= 60).sum())
        acc["visible_share_of_true"] = n_visible / max(1, acc["true_pairs"])
        acc["by_search_threshold"] = {}
        for th in SEARCH_THRESHOLDS:
            f = found_all[found_all["shared_minutes"] >= th].assign(shared_minutes=60.0)
            a, v = companion_accuracy(f, nation.true_contacts), companion_accuracy(f, vis_truth)
            acc["by_search_threshold"][th] = {"recall": a["recall"], "precision": a["precision"],
                                              "recall_visible": v["recall"], "precision_visible": v["precision"]}
        out[name] = acc
    return out


def accuracy_places(n_subs: int, seed: int, rate: float, sampling: str = "5-60", spread_m: float = 100.0,
                    n_cities: int = 2) -> dict:
    """The search's place as a cell or as a site (``BuildParams.companion_site_radius_m``), on the
    synthetic nation's pings as generated and re-served with radio ping-pong at ``rate``
    (benchmarks/engine_pings.py: 1-3 more cells per cell within ``spread_m``, the stream switching cell
    at ``rate``); recall / precision of the rule against the true contacts, which ping-pong does not
    change. A ``spread_m`` above the site radius (100 m) leaves masts of one place in different sites."""
    from engine_pings import pingpong_cells, pingpong_network

    from forecast.phones import pseudonymise_series
    from forecast.synth import NationConfig, generate_nation

    key = b"k" * 32
    cfg = NationConfig(n_subscribers=n_subs, n_cities=n_cities, n_days=14, seed=seed,
                       ping_interval_minutes=SAMPLINGS[sampling])
    nation = generate_nation(cfg, pseudonym_key=key)
    uid, _ = pseudonymise_series(nation.cases["msisdn"], key)
    cases = nation.cases.assign(uid=uid, confirmed_date=pd.to_datetime(nation.cases["confirmed_date"]))
    plain = nation.canonical_pings()
    full, primary, members, k = pingpong_network(nation.cells, spread_m=spread_m)
    served = pingpong_cells(plain["cell_id"].to_numpy(np.int64), rate, np.random.default_rng(seed), full,
                            primary, members, k)
    feeds = {"generated": (plain, nation.cells), f"pingpong_{rate}": (plain.assign(cell_id=served), full)}
    out = {"sampling": sampling, "subscribers": n_subs, "cities": n_cities, "spread_m": spread_m}
    for name, (pings, cells) in feeds.items():
        u = pings["uid"].to_numpy()
        c = pings["cell_id"].to_numpy()
        same = u[1:] == u[:-1]
        row = {"switch_rate": float(np.mean(c[1:][same] != c[:-1][same]))}
        for place, radius in (("cell", None), ("site", 100.0)):
            stays = build_path_stays(pings, cells, companion_site_radius_m=radius)
            found = find_companions(StayIndex.build(stays, cells), cases, as_of=pd.Timestamp(cfg.as_of))
            acc = companion_accuracy(found[found["shared_minutes"] >= 60], nation.true_contacts)
            row[place] = {"stays": int(len(stays)), "recall": acc["recall"], "precision": acc["precision"],
                          "found_pairs": acc["found_pairs"], "true_pairs": acc["true_pairs"]}
        out[name] = row
    return out


# ---- accuracy: silent days (bridged today, cut out, or imputed from the routine) ------------------------
IMPUTE_SHARES = (0.5, 0.6, 0.7, 0.8, 0.9)  # routine regularity thresholds tried (forecast.contacts.impute)
IMPUTE_MIN_DAYS = 3


def seen_days_of(pings: pd.DataFrame, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """The subscriber-days with at least one ping (what a build knows per daily ping part)."""
    day = pd.to_datetime(pings["ts_s"], unit="s", utc=True).dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    return pd.DataFrame({"uid": pings["uid"].to_numpy(np.int64), "local_date": day.to_numpy()}).drop_duplicates()


def _pairs(found: pd.DataFrame, minutes: float) -> set:
    f = found[found["shared_minutes"] >= minutes]
    return set(zip(f["case_id"].astype(str), f["uid"].astype("int64")))


def _score(pairs: set, raw: set, vis: set) -> dict:
    hit_r, hit_v = len(pairs & raw), len(pairs & vis)
    n = len(pairs)  # precision of nothing found: None (null), not 0
    return {"found": n, "recall": hit_r / max(1, len(raw)), "precision": hit_r / n if n else None,
            "recall_visible": hit_v / max(1, len(vis)), "precision_visible": hit_v / n if n else None}


def accuracy_silent_days(n_subs: int, seed: int, shares=IMPUTE_SHARES, by_weekday: bool = True,
                         samplings=tuple(SAMPLINGS)) -> dict:
    """Silent days three ways, at each sampling: ``bridged`` (today: join_contact_stays bridges them),
    ``cut`` (forecast.contacts.impute.cut_silent_days: nothing claimed on a silent day) and ``imputed``
    (impute_silent_days at each regularity threshold in ``shares``). Each is one search; pairs are
    diffed between searches. Levels scored against true >= 60 min (raw and visible):

    * ``rule`` (>= 60 min), ``with_possible`` (>= 40 min) for bridged and cut stays;
    * ``bridge_only``: pairs >= 60 min with bridged stays but not >= 60 min with cut stays (their
      precision is what bridging costs or earns);
    * ``imputed_only``: pairs >= 60 min with imputed stays that the bridged search did not find at
      >= 40 min (the "possible, imputed routine" level); ``with_imputed`` = bridged >= 40 min plus
      them; ``cut_with_imputed`` = cut >= 40 min plus pairs >= 60 min with imputed stays not in it.
    """
    from forecast.contacts import cut_silent_days, impute_silent_days
    from forecast.phones import pseudonymise_series
    from forecast.synth import NationConfig, generate_nation

    key = b"k" * 32
    out = {}
    for name in samplings:
        cfg = NationConfig(n_subscribers=n_subs, n_cities=2, n_days=14, seed=seed,
                           ping_interval_minutes=SAMPLINGS[name])
        nation = generate_nation(cfg, pseudonym_key=key)
        uid, _ = pseudonymise_series(nation.cases["msisdn"], key)
        cases = nation.cases.assign(uid=uid, confirmed_date=pd.to_datetime(nation.cases["confirmed_date"]))
        pings = nation.canonical_pings()
        seen = seen_days_of(pings)
        first_day, last_day = seen["local_date"].min(), seen["local_date"].max()
        bridged = build_path_stays(pings, nation.cells)

        def search(stays, cells=nation.cells, cases=cases, as_of=pd.Timestamp(cfg.as_of)):
            idx = StayIndex.build(stays, cells)
            return find_companions(idx, cases, as_of=as_of, min_possible_minutes=POSSIBLE_MINUTES)

        found_b = search(bridged)
        report = found_b.attrs["case_report"]
        raw = _pairs(nation.true_contacts, 60)
        vis = _pairs(true_companions(visible_true_stays(nation.true_stays, pings), report), 60)
        cut = cut_silent_days(bridged, seen, first_day=first_day, last_day=last_day)
        found_c = search(cut)
        b60, b40, c60, c40 = (_pairs(found_b, 60), _pairs(found_b, 40), _pairs(found_c, 60),
                              _pairs(found_c, 40))
        res = {"true_pairs": len(raw), "visible_pairs": len(vis), "silent_subscriber_days": int(
            len(nation.silent_days)), "bridged": {"rule": _score(b60, raw, vis),
                                                  "with_possible": _score(b40, raw, vis)},
               "cut": {"rule": _score(c60, raw, vis), "with_possible": _score(c40, raw, vis)},
               "bridge_only": _score(b60 - c60, raw, vis), "bridge_only_possible": _score(b40 - c40, raw, vis),
               "imputed": {}}
        for share in shares:
            imp = impute_silent_days(bridged, seen, first_day=first_day, last_day=last_day, min_share=share,
                                     min_days=IMPUTE_MIN_DAYS, by_weekday=by_weekday)
            found_i = search(imp.drop(columns="imputed"))
            i60 = _pairs(found_i, 60)
            only = i60 - b40
            res["imputed"][str(share)] = {
                "imputed_stays": int(imp["imputed"].sum()),
                "imputed_only": _score(only, raw, vis),
                "with_imputed": _score(b40 | only, raw, vis),
                "cut_with_imputed": _score(c40 | (i60 - c40), raw, vis),
                "rule_on_imputed_stays": _score(i60, raw, vis),
            }
        out[name] = res
        print(json.dumps({"silent_days": {"seed": seed, "sampling": name, **res}}), flush=True)
    return out


IMPUTE_TUNE_SEED, IMPUTE_HELD_OUT_SEED = 1, 2


def choose_share(tune: dict, sampling: str = "5-60", min_precision: float = 0.95) -> float:
    """The regularity threshold (on the tuning seed) with the best raw recall of bridged + possible +
    imputed at ``sampling``, among those whose imputed-only pairs have precision >= ``min_precision`` at
    every sampling and whose total precision stays >= ``min_precision`` (ties: the stricter threshold)."""
    shares = tune[sampling]["imputed"]
    ok = [(v["with_imputed"]["recall"], float(k)) for k, v in shares.items()
          if all((t["imputed"][k]["imputed_only"]["precision"] or 0.0) >= min_precision
                 and t["imputed"][k]["with_imputed"]["precision"] >= min_precision for t in tune.values())]
    return max(ok)[1] if ok else max(float(k) for k in shares)


def summarise_silent(res: dict, share: float) -> dict:
    """The figures of one sampling of :func:`accuracy_silent_days` at the chosen threshold."""
    imp = res["imputed"][str(share)]
    pick = ("recall", "precision", "recall_visible", "precision_visible", "found")
    return {"bridged_rule": {k: res["bridged"]["rule"][k] for k in pick},
            "bridged_with_possible": {k: res["bridged"]["with_possible"][k] for k in pick},
            "cut_rule": {k: res["cut"]["rule"][k] for k in pick},
            "cut_with_possible": {k: res["cut"]["with_possible"][k] for k in pick},
            "bridge_only": {k: res["bridge_only"][k] for k in ("found", "precision")},
            "imputed_only": {k: imp["imputed_only"][k] for k in ("found", "precision", "recall")},
            "with_imputed": {k: imp["with_imputed"][k] for k in pick}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subscribers", type=int, default=None)
    ap.add_argument("--days", type=int, default=15)
    ap.add_argument("--min-pings", type=int, default=1)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--pingpong", type=float, default=0.7, metavar="RATE",
                    help="switch rate of the radio ping-pong feed in the place comparison (cell vs site)")
    ap.add_argument("--pingpong-spread-m", type=float, default=100.0, metavar="M",
                    help="ping-pong cells lie within this distance of a place's own cell (default 100)")
    ap.add_argument("--silent-days", action="store_true",
                    help="also measure silent days bridged / cut / imputed (threshold chosen on seed 1, "
                         "figures on the held-out seed 2; see docs/contacts.md)")
    a = ap.parse_args(argv)
    n = a.subscribers or (30_000 if a.quick else 1_000_000)
    n_batch = 1000
    per_cell = 50 if a.quick else 200  # quick: smaller crowds per cell, fewer companions per case
    result: dict = {"quick": a.quick, "subscribers_per_cell": per_cell}

    half = speed(n // 2, a.days, n_batch, seed=11, subs_per_cell=per_cell)
    gc.collect()
    full = speed(n, a.days, n_batch, seed=12, subs_per_cell=per_cell)
    print(json.dumps({"half": half}), flush=True)
    print(json.dumps({"full": full}), flush=True)
    result.update(
        n_subscribers=n,
        n_stays=full["n_stays"],
        build_s=full["build_s"],
        one_case_s=full["one_case_s"],
        batch_1000_s=full["batch_s"],
        companions_per_case=full["batch_companions"] / n_batch,
        growth_ratio_2x={"build": full["build_s"] / half["build_s"], "batch": full["batch_s"] / half["batch_s"]},
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if not a.skip_accuracy:
        acc = accuracy_synth(1_500 if a.quick else 10_000, seed=1, min_pings=a.min_pings)
        result["truth_source"] = ("forecast.synth true_contacts; companion stays as the build makes them "
                                  "(daily parts, forecast.contacts.stays)")
        print(json.dumps({"accuracy": acc}), flush=True)
        typical = acc["5-60"]
        for k in ("recall", "precision", "recall_outside_band", "precision_outside_band", "recall_visible",
                  "precision_visible", "recall_with_possible", "precision_with_possible",
                  "recall_with_possible_visible", "precision_with_possible_visible", "visible_share_of_true"):
            result[k] = typical[k]
        keys = [k for k in typical if k.startswith(("recall", "precision", "visible", "by_search"))]
        result["by_sampling"] = {k: {m: v[m] for m in keys} for k, v in acc.items()}
    if not a.skip_accuracy:
        places = accuracy_places(1_500 if a.quick else 10_000, seed=1, rate=a.pingpong, spread_m=a.pingpong_spread_m)
        print(json.dumps({"places": places}), flush=True)
        result["places"] = places
        pp = places[f"pingpong_{a.pingpong}"]
        result["pingpong_recall_cell"], result["pingpong_recall_site"] = pp["cell"]["recall"], pp["site"]["recall"]
    if a.silent_days:
        n_acc = 1_500 if a.quick else 10_000
        tune = accuracy_silent_days(n_acc, seed=IMPUTE_TUNE_SEED)
        best = choose_share(tune)
        held = accuracy_silent_days(n_acc, seed=IMPUTE_HELD_OUT_SEED, shares=(best,))
        result["silent_days"] = {"tune_seed": IMPUTE_TUNE_SEED, "held_out_seed": IMPUTE_HELD_OUT_SEED,
                                 "min_share": best, "min_days": IMPUTE_MIN_DAYS,
                                 "held_out": {k: summarise_silent(v, best) for k, v in held.items()}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
