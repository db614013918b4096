"""Benchmark: companion search (forecast.contacts) speed and accuracy.

Speed: the stays of one city (default 1M subscribers x 15 days, generated directly and vectorised:
about 3.3 stays per subscriber-day at home, work and lunch places, ~50M stays) -> index build, one
case, a batch of 1,000 cases, and the same at half the city to measure growth (time(N) / time(N/2),
i.e. the city doubling; 2M subscribers would not fit the 8 GB budget).

Accuracy: against the synthetic nation's true contacts (forecast.synth + forecast.stays) when both
exist, else against an own simulation (true visits at places inside cells, pings at random intervals,
stays by detect_stays); recall and precision for true shared time >= 60 min at three samplings (ping
intervals 5-60, 30-120, 60-240 minutes), also against the truth cut to what pings can show.

    .venv/bin/python benchmarks/contacts.py            # full (1M subscribers)
    .venv/bin/python benchmarks/contacts.py --quick    # < 1 min

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.contacts import StayIndex, companion_accuracy, find_companions  # noqa: E402
from forecast.stays import detect_stays  # noqa: E402

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


# ---- accuracy: own simulation of true visits, pings and stays -------------------------------------
STAY_PARAMS = {"min_stay_minutes": 15, "radius_m": None, "max_gap_minutes": 360}


def sim_cells(lo: int, hi: int) -> pd.DataFrame:
    """Cells ``lo..hi`` on a 1 km grid around Wenzhou (one city, one community per cell)."""
    ids = np.arange(lo, hi + 1, dtype=np.int64)
    side = int(np.ceil(np.sqrt(len(ids))))
    return pd.DataFrame({"cell_id": ids, "lon": 120.6 + (ids - lo) % side * 0.0104,
                         "lat": 28.0 + (ids - lo) // side * 0.009, "city_code": 330300,
                         "community_id": ids})


def simulate_truth(n_subs: int, n_days: int, interval_min: tuple[int, int], *, seed: int = 3,
                   places_per_cell: int = 1, subs_per_cell: int = 40):
    """True visits at places (several per cell), pings at random intervals, observed stays.

    Returns (observed stays, true visits, pings). Observed stays come from
    :func:`forecast.stays.detect_stays` with :data:`STAY_PARAMS`.
    """
    base = city_stays(n_subs, n_days, seed=seed, subs_per_cell=subs_per_cell)
    rng = np.random.default_rng(seed + 7)
    # a true visit is at one place inside the cell; homes and workplaces are places too
    base["place_id"] = base["cell_id"] * places_per_cell + rng.integers(0, places_per_cell, len(base))
    uid = base["uid"].to_numpy()
    home_cell = pd.Series(base["cell_id"].to_numpy()).groupby(uid).transform("first").to_numpy()
    home_place = pd.Series(base["place_id"].to_numpy()).groupby(uid).transform("first").to_numpy()
    is_home = base["cell_id"].to_numpy() == home_cell
    base.loc[is_home, "place_id"] = home_place[is_home]  # one home place per subscriber
    # pings: random intervals over the whole period, each at the place of the visit covering it
    lo, hi = interval_min
    n_per = int(n_days * DAY / (60 * (lo + hi) / 2) * 1.3) + 10
    gaps = rng.integers(lo * 60, hi * 60 + 1, (n_subs, n_per))
    ts = T0 + rng.integers(0, lo * 60 + 1, (n_subs, 1)) + np.cumsum(gaps, axis=1)
    users = np.unique(uid)
    ping_uid = np.repeat(users, n_per)
    ping_ts = ts.reshape(-1)
    keep = ping_ts < T0 + n_days * DAY
    ping_uid, ping_ts = ping_uid[keep], ping_ts[keep]
    # locate each ping in the subscriber's visits (sorted by uid, start)
    key_v = (np.searchsorted(users, uid) << 32) | (base["start_s"].to_numpy() - T0 + 1)
    key_p = (np.searchsorted(users, ping_uid) << 32) | (ping_ts - T0 + 1)
    pos = np.searchsorted(key_v, key_p, side="right") - 1
    ok = (pos >= 0) & (uid[np.maximum(pos, 0)] == ping_uid) & (base["end_s"].to_numpy()[np.maximum(pos, 0)] >= ping_ts)
    # a ping between visits (travelling) is seen at a cell near the destination
    nxt = np.minimum(pos + 1, len(base) - 1)
    c_lo, c_hi = int(base["cell_id"].min()), int(base["cell_id"].max())
    transit = np.clip(base["cell_id"].to_numpy()[nxt] + rng.integers(-2, 3, len(ping_ts)), c_lo, c_hi)
    cell = np.where(ok, base["cell_id"].to_numpy()[np.maximum(pos, 0)], transit)
    pings = pd.DataFrame({"uid": ping_uid, "ts_s": ping_ts, "cell_id": cell})
    cells = sim_cells(int(base["cell_id"].min()), int(base["cell_id"].max()))
    stays = detect_stays(pings, cells, **STAY_PARAMS)
    return stays, base, pings


def true_contacts(visits: pd.DataFrame, cases: pd.DataFrame, win: np.ndarray) -> pd.DataFrame:
    """Exact shared minutes at the same place between each case and everyone (brute force)."""
    v = visits[["uid", "start_s", "end_s", "place_id"]]
    rows = []
    for i, (cid, cu) in enumerate(zip(cases["case_id"], cases["uid"])):
        mine = v[v["uid"] == cu]
        m = mine.merge(v[v["uid"] != cu], on="place_id", suffixes=("_c", ""))
        lo = np.maximum.reduce([m["start_s_c"].to_numpy(), m["start_s"].to_numpy(), np.full(len(m), win[i, 0])])
        hi = np.minimum.reduce([m["end_s_c"].to_numpy(), m["end_s"].to_numpy(), np.full(len(m), win[i, 1])])
        m = m.assign(sec=np.maximum(hi - lo, 0))
        s = m.groupby("uid")["sec"].sum()
        rows.append(pd.DataFrame({"case_id": cid, "uid": s.index, "shared_minutes": s.to_numpy() / 60.0}))
    return pd.concat(rows, ignore_index=True)


def accuracy_own(n_subs: int, n_days: int, n_cases: int, min_pings: int, seed: int) -> dict:
    out = {}
    for name, interval in SAMPLINGS.items():
        stays, visits, _ = simulate_truth(n_subs, n_days, interval, seed=seed)
        idx = StayIndex.build(stays, min_pings=min_pings)
        rng = np.random.default_rng(seed)
        chosen = rng.choice(np.unique(stays["uid"]), n_cases, replace=False)
        day = pd.Timestamp(T0 + (n_days - 1) * DAY, unit="s", tz="UTC").tz_convert("Asia/Shanghai")
        cases = pd.DataFrame({"case_id": [f"c{i}" for i in range(n_cases)], "uid": chosen,
                              "confirmed_date": day.tz_localize(None).normalize()})
        found = find_companions(idx, cases)
        rep = found.attrs["case_report"]
        win = rep[["window_start_s", "window_end_s"]].to_numpy(np.int64)
        truth = true_contacts(visits, cases, win)
        acc = companion_accuracy(found, truth)
        # the pairs missed or wrongly found are near the threshold: how near?
        t_all = truth.set_index(["case_id", "uid"])["shared_minutes"]
        f_all = found.set_index(["case_id", "uid"])["shared_minutes"]
        fp = f_all[~f_all.index.isin(t_all[t_all >= 60].index)]
        acc["false_pos_true_minutes_median"] = float(t_all.reindex(fp.index).fillna(0).median()) if len(fp) else None
        fn = t_all[(t_all >= 60) & ~t_all.index.isin(f_all.index)]
        acc["missed_true_minutes_median"] = float(fn.median()) if len(fn) else None
        acc["missed_found_minutes_median"] = float(f_all.reindex(fn.index).fillna(0).median()) if len(fn) else None
        out[name] = acc
    return out


# Stays for companion search: same cell, trigger-ended (no tail, so a stay lasts until the next ping
# elsewhere: the evening at home carries through the silent night), and a silence of up to two days
# (a missing day) does not throw away the stay before it.
CONTACT_STAY_PARAMS = {"min_stay_minutes": 15, "radius_m": None, "max_gap_minutes": 2880, "max_tail_minutes": None}
SEARCH_THRESHOLDS = (60, 50, 40)


def _stay_params() -> dict:
    import inspect

    accepted = inspect.signature(detect_stays).parameters
    return {k: v for k, v in CONTACT_STAY_PARAMS.items() if k in accepted}


def visible_truth(nation, cases: pd.DataFrame, report: pd.DataFrame, silence_hours: float = 16) -> pd.DataFrame:
    """True contacts recomputed from true stays cut to what pings can show: each subscriber's time
    from first to last ping, minus silences longer than ``silence_hours`` (missing days; the silent
    nights are shorter and stay in)."""
    p = nation.canonical_pings()
    u, t = p["uid"].to_numpy(), p["ts_s"].to_numpy()
    brk = np.ones(len(u) + 1, dtype=bool)
    brk[1:-1] = (u[1:] != u[:-1]) | (t[1:] - t[:-1] > silence_hours * 3600)
    head = np.flatnonzero(brk[:-1])
    tail = np.flatnonzero(brk[1:])
    seg = pd.DataFrame({"uid": u[head], "seg_s": t[head], "seg_e": t[tail]})
    ts = nation.true_stays.merge(seg, on="uid")
    ts = ts.assign(start_s=np.maximum(ts["start_s"], ts["seg_s"]), end_s=np.minimum(ts["end_s"], ts["seg_e"]))
    ts = ts[ts["end_s"] > ts["start_s"]]
    run = report[report["status"] == "ok"].merge(cases[["case_id"]], on="case_id")
    return true_contacts(ts, run, run[["window_start_s", "window_end_s"]].to_numpy(np.int64))


def accuracy_synth(n_subs: int, seed: int, min_pings: int) -> dict | None:
    """Recall/precision against forecast.synth's true contacts, stays from forecast.stays."""
    try:
        from forecast.phones import pseudonymise_series
        from forecast.synth import NationConfig, generate_nation
    except ImportError:
        return None
    key = b"k" * 32
    out = {}
    for name, interval in SAMPLINGS.items():
        cfg = NationConfig(n_subscribers=n_subs, n_cities=2, n_days=14, seed=seed, ping_interval_minutes=interval)
        nation = generate_nation(cfg, pseudonym_key=key)
        uid, err = pseudonymise_series(nation.cases["msisdn"], key)
        cases = nation.cases.assign(uid=uid, confirmed_date=pd.to_datetime(nation.cases["confirmed_date"]))
        stays = detect_stays(nation.canonical_pings(), nation.cells, **_stay_params())
        idx = StayIndex.build(stays, nation.cells, min_pings=min_pings)
        found_all = find_companions(idx, cases, as_of=pd.Timestamp(cfg.as_of), min_shared_minutes=min(SEARCH_THRESHOLDS))
        found = found_all[found_all["shared_minutes"] >= 60]
        acc = companion_accuracy(found, nation.true_contacts)
        acc["cases"] = int(len(cases))
        vis_truth = visible_truth(nation, cases, found_all.attrs["case_report"])
        vis = companion_accuracy(found, vis_truth)
        acc["recall_visible"] = vis["recall"]
        acc["precision_visible"] = vis["precision"]
        # operating points: search with a lower threshold, score against true >= 60 min
        acc["by_search_threshold"] = {}
        for th in SEARCH_THRESHOLDS:
            f = found_all[found_all["shared_minutes"] >= th].assign(shared_minutes=60.0)
            a, v = companion_accuracy(f, nation.true_contacts), companion_accuracy(f, vis_truth)
            acc["by_search_threshold"][th] = {"recall": a["recall"], "precision": a["precision"],
                                              "recall_visible": v["recall"], "precision_visible": v["precision"]}
        out[name] = acc
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subscribers", type=int, default=None)
    ap.add_argument("--days", type=int, default=15)
    ap.add_argument("--min-pings", type=int, default=1)
    ap.add_argument("--skip-accuracy", action="store_true")
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
        result["truth_source"] = "forecast.synth true_contacts; stays by forecast.stays.detect_stays"
        result["stay_params"] = _stay_params()
        if acc is None:
            acc_n = 4_000 if a.quick else 10_000
            acc = accuracy_own(acc_n, a.days, 40 if a.quick else 100, a.min_pings, seed=5)
            result["truth_source"] = "own simulation (benchmarks/contacts.py simulate_truth)"
        print(json.dumps({"accuracy": acc}), flush=True)
        result["recall"] = acc["5-60"]["recall"]
        result["precision"] = acc["5-60"]["precision"]
        result["recall_outside_band"] = acc["5-60"]["recall_outside_band"]
        result["precision_outside_band"] = acc["5-60"]["precision_outside_band"]
        for k in ("recall_visible", "precision_visible"):
            if k in acc["5-60"]:
                result[k] = acc["5-60"][k]
        keys = [k for k in acc["5-60"] if k.startswith(("recall", "precision", "by_search"))]
        result["by_sampling"] = {k: {m: v[m] for m in keys} for k, v in acc.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
