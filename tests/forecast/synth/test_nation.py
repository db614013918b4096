"""Synthetic nation: determinism, schemas, pings, borders, ground truth (stays, city-days, contacts,
infections, cases), files and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecast import schema
from forecast.phones import normalise_msisdn, pseudonymise
from forecast.synth import (FEEDS, PLACES, SUBSCRIBERS, TRUTH, NationConfig, generate_nation, generate_nation_to_dir,
                            read_truth, write_nation)
from forecast.synth.geo import read_china2020_cities, read_city_table
from forecast.synth.io import read_table

KEY = bytes(range(16))
TZ = "Asia/Shanghai"
# strong enough to have cases inside the ping window in a tiny nation
CFG = NationConfig(n_cities=3, n_subscribers=200, n_days=10, epidemic_days=30, seed=7, transmission_per_hour=0.04,
                   seed_infections=8, trip_rate_per_day=0.03, block_subscribers=64)


@pytest.fixture(scope="module")
def nation():
    return generate_nation(CFG, KEY)


def _frames(n):
    return {k: getattr(n, k) for k in list(FEEDS) + list(TRUTH)}


def test_same_seed_same_nation_and_other_seed_differs(nation):
    again = generate_nation(CFG, KEY)
    for name, df in _frames(nation).items():
        pd.testing.assert_frame_equal(df, getattr(again, name), obj=name)
    other = generate_nation(replace(CFG, seed=8), KEY)
    assert not nation.pings.equals(other.pings)
    assert not nation.true_stays.equals(other.true_stays)


def test_frames_follow_the_schema(nation):
    for name, table in {**FEEDS, **TRUTH}.items():
        df = getattr(nation, name)
        assert list(df.columns) == list(table), name
        assert df.dtypes.astype(str).to_dict() == {c: str(pd.Series(dtype=t).dtype) for c, t in table.items()}, name
    can = nation.canonical_pings()
    assert can.dtypes.astype(str).to_dict() == {"uid": "int64", "ts_s": "int64", "cell_id": "int64"}
    assert len(can) == len(nation.pings)
    assert (np.diff(can["uid"]) >= 0).all()
    assert len(nation.cities) == 3 and nation.cities["name"].str.endswith("市").all()
    assert nation.communities.groupby("city_code")["name"].apply(lambda s: s.is_unique).all()


def test_pings_per_subscriber_day_and_iso_times(nation):
    per_day = len(nation.pings) / (CFG.n_subscribers * CFG.n_days)
    assert 25 <= per_day <= 50
    ts = nation.pings["ts"]
    assert ts.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00").all()
    parsed = (pd.to_datetime(ts, format="ISO8601") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    can = nation.canonical_pings()
    assert sorted(parsed) == sorted(can["ts_s"])
    gaps = can.groupby("uid")["ts_s"].diff().dropna()
    assert gaps.min() >= 5 * 60 and (gaps <= 60 * 60).mean() > 0.8


def test_nights_are_silent_and_pings_inside_the_window(nation):
    local = pd.to_datetime(nation.canonical_pings()["ts_s"], unit="s", utc=True).dt.tz_convert(TZ)
    hours = local.dt.hour + local.dt.minute / 60
    assert hours.min() >= 5.5 and hours.max() < 24
    days = local.dt.tz_localize(None).dt.normalize()
    as_of = pd.Timestamp(CFG.as_of)
    assert days.min() >= as_of - pd.Timedelta(days=CFG.n_days) and days.max() < as_of


def test_some_subscriber_days_are_silent_and_listed(nation):
    can = nation.canonical_pings()
    days = pd.to_datetime(can["ts_s"], unit="s", utc=True).dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    seen = pd.DataFrame({"uid": can["uid"], "local_date": days.astype("datetime64[s]")}).drop_duplicates()
    silent = nation.silent_days
    assert 0 < len(silent) < 0.1 * CFG.n_subscribers * CFG.n_days
    assert len(seen) + len(silent) == CFG.n_subscribers * CFG.n_days
    assert not silent.merge(seen, on=["uid", "local_date"]).shape[0]


def _ping_truth(nation):
    """Each canonical ping with the true stay (place, true city) it falls in."""
    can = nation.canonical_pings().sort_values("ts_s")
    st = nation.true_stays.sort_values("start_s")
    m = pd.merge_asof(can, st, left_on="ts_s", right_on="start_s", by="uid", direction="backward")
    return m.merge(nation.cells[["cell_id", "city_code"]].rename(columns={"city_code": "cell_city"}), on="cell_id")


def test_every_ping_is_inside_a_true_stay_and_served_by_its_place(nation):
    m = _ping_truth(nation)
    assert m["start_s"].notna().all() and (m["ts_s"] < m["end_s"]).all()
    pl = nation.places.set_index("place_id")
    own = pl.loc[m["place_id"], "cell_id"].to_numpy()
    border = pl.loc[m["place_id"], "border_cell_id"].to_numpy()
    assert ((m["cell_id"].to_numpy() == own) | (m["cell_id"].to_numpy() == border)).all()


def test_border_cells_give_wrong_cities_near_borders_only(nation):
    pl = nation.places
    bc = pl[pl["border_cell_id"] >= 0]
    assert len(bc) > 0
    cell_city = nation.cells.set_index("cell_id")["city_code"]
    assert (cell_city.loc[bc["border_cell_id"]].to_numpy() != bc["city_code"].to_numpy()).all()
    m = _ping_truth(nation)
    wrong = m["cell_city"] != m["city_code"]
    at_border_place = m["place_id"].isin(bc["place_id"])
    assert not wrong[~at_border_place].any()
    assert 0.2 < wrong[at_border_place].mean() < 0.4  # border_cell_share = 0.3
    sub = nation.subscribers
    near = sub.loc[sub["near_border"], "uid"]
    assert len(near) > 0 and wrong[m["uid"].isin(near)].any()
    border_comm = bc["place_id"]
    assert (sub["home_community_id"].isin(border_comm) | sub["work_community_id"].isin(border_comm)).eq(sub["near_border"]).all()


def test_true_city_days_add_up_the_true_stays(nation):
    st = nation.true_stays
    rows = []
    first = pd.Timestamp(CFG.as_of) - pd.Timedelta(days=CFG.n_days)
    for k in range(CFG.n_days):
        day = first + pd.Timedelta(days=k)
        d0 = int(day.tz_localize(TZ).timestamp())
        ov = (np.minimum(st["end_s"], d0 + 86_400) - np.maximum(st["start_s"], d0)).clip(lower=0) / 60
        rows.append(pd.DataFrame({"uid": st["uid"], "local_date": day, "city_code": st["city_code"], "minutes": ov}))
    want = pd.concat(rows)
    want = want[want["minutes"] > 0].groupby(["uid", "local_date", "city_code"])["minutes"].sum().reset_index()
    got = nation.true_city_days.sort_values(["uid", "local_date", "city_code"]).reset_index(drop=True)
    want = want.astype(schema.TRUE_CITY_DAYS).sort_values(["uid", "local_date", "city_code"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=False)
    per_day = got.groupby(["uid", "local_date"])["minutes"].sum()
    assert np.allclose(per_day, 1440)  # every minute of every day is somewhere
    assert (got.groupby("uid")["city_code"].nunique() > 1).any()  # trips happen


def test_true_stays_do_not_overlap(nation):
    st = nation.true_stays.sort_values(["uid", "start_s"])
    same = st["uid"].to_numpy()[1:] == st["uid"].to_numpy()[:-1]
    assert (st["start_s"].to_numpy()[1:][same] >= st["end_s"].to_numpy()[:-1][same]).all()
    assert (st["end_s"] > st["start_s"]).all()


def _case_uids(cases):
    return cases["msisdn"].map(lambda m: pseudonymise(normalise_msisdn(m), KEY))


def test_true_contacts_equal_brute_force_overlaps(nation):
    cases = nation.cases.assign(uid=_case_uids(nation.cases))
    first = pd.Timestamp(CFG.as_of) - pd.Timedelta(days=CFG.n_days)
    st = nation.true_stays
    want = []
    for c in cases.itertuples():
        conf = pd.Timestamp(c.confirmed_date)
        w0 = int(max(conf - pd.Timedelta(days=CFG.contact_window_days), first).tz_localize(TZ).timestamp())
        w1 = int((conf + pd.Timedelta(days=1)).tz_localize(TZ).timestamp())
        mine = st[st["uid"] == c.uid].assign(start_s=lambda d: d.start_s.clip(w0, w1), end_s=lambda d: d.end_s.clip(w0, w1))
        mine = mine[mine.end_s > mine.start_s]
        pairs = mine.merge(st[st["uid"] != c.uid], on="place_id", suffixes=("_c", ""))
        ov = (np.minimum(pairs.end_s_c, pairs.end_s) - np.maximum(pairs.start_s_c, pairs.start_s)).clip(lower=0)
        g = pairs.assign(m=ov / 60)[ov > 0].groupby("uid")["m"].sum()
        want.append(pd.DataFrame({"case_id": c.case_id, "uid": g.index, "shared_minutes": g.to_numpy()}))
    want = pd.concat(want).astype(schema.TRUE_CONTACTS).sort_values(["case_id", "uid"]).reset_index(drop=True)
    got = nation.true_contacts.sort_values(["case_id", "uid"]).reset_index(drop=True)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, want, check_exact=False)
    assert not got.merge(cases[["case_id", "uid"]], on=["case_id", "uid"]).shape[0]  # nobody is their own contact


def test_infections_natural_history_and_future(nation):
    ti = nation.true_infections
    as_of = pd.Timestamp(CFG.as_of)
    latent = (ti["infectious_date"] - ti["infected_date"]).dt.days
    assert latent.between(2, 4).all()
    conf = ti.dropna(subset=["confirmed_date"])
    delay = (conf["confirmed_date"] - conf["infectious_date"]).dt.days
    assert delay.between(2, 8).all() and len(conf) < len(ti)  # ascertainment < 1
    assert (ti["infected_date"] >= as_of).any()  # the future is known
    assert ti["imported"].sum() == CFG.seed_infections
    assert ti["uid"].is_unique and ti["uid"].isin(nation.subscribers["uid"]).all()


def test_cases_feed_holds_confirmations_before_as_of_only(nation):
    cases, ti = nation.cases, nation.true_infections
    last = pd.Timestamp(CFG.as_of) - pd.Timedelta(days=1)
    assert (pd.to_datetime(cases["confirmed_date"]) <= last).all()
    known = ti[ti["confirmed_date"] <= last]
    assert sorted(_case_uids(cases)) == sorted(known["uid"])
    assert cases["case_id"].is_unique
    sub = nation.subscribers.set_index("uid")
    assert (sub.loc[_case_uids(cases), "home_community_id"].to_numpy() == cases["community_id"].to_numpy()).all()
    if len(nation.case_trips):
        assert nation.case_trips["case_id"].isin(cases["case_id"]).all()
        assert nation.case_trips["mode"].isin(["train", "flight"]).all()


def test_city_cases_are_cumulative_counts_of_cases(nation):
    cc = nation.city_cases
    assert cc.groupby("city_code")["confirmed"].apply(lambda s: s.is_monotonic_increasing).all()
    last = cc[cc["date"] == cc["date"].max()].set_index("city_code")["confirmed"]
    counts = nation.cases.groupby("city_code").size().reindex(last.index, fill_value=0)
    assert (last == counts).all() and last.sum() == len(nation.cases) > 0
    assert cc["date"].nunique() == CFG.epidemic_days


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_and_read_round_trip(nation, tmp_path, fmt):
    paths = write_nation(nation, tmp_path, fmt)
    truth = read_truth(tmp_path)
    for name in TRUTH:
        pd.testing.assert_frame_equal(truth[name], getattr(nation, name), obj=name)
    for name, table in FEEDS.items():
        pd.testing.assert_frame_equal(read_table(paths[name], table), getattr(nation, name), obj=name)


def test_chunked_generation_equals_in_memory(nation, tmp_path):
    write_nation(nation, tmp_path / "mem", "parquet")
    generate_nation_to_dir(CFG, KEY, tmp_path / "c1", chunk_subscribers=1, progress=False)
    generate_nation_to_dir(CFG, KEY, tmp_path / "c2", chunk_subscribers=150, progress=False)
    for name, table in {**FEEDS, **TRUTH}.items():
        sub = "truth/" if name in TRUTH else ""
        ref = read_table(tmp_path / "mem" / f"{sub}{name}.parquet", table)
        for other in ("c1", "c2"):
            pd.testing.assert_frame_equal(read_table(tmp_path / other / f"{sub}{name}.parquet", table), ref, obj=name)


@pytest.mark.parametrize("truth", [True, False])
def test_pings_by_day_equal_the_in_memory_pings_split_by_day(nation, tmp_path, truth):
    paths = generate_nation_to_dir(CFG, KEY, tmp_path, chunk_subscribers=100, progress=False, pings_by_day=True,
                                   truth=truth)
    assert not (tmp_path / "pings.parquet").exists()
    parts = sorted(paths["pings"].iterdir())
    day = nation.pings["ts"].str.slice(0, 10)
    assert [p.name for p in parts] == [f"part-{d}.parquet" for d in sorted(day.unique())]
    assert len(parts) == CFG.n_days
    for p in parts:
        ref = nation.pings[day == p.stem.removeprefix("part-")].reset_index(drop=True)
        pd.testing.assert_frame_equal(read_table(p, schema.RAW_PINGS), ref, obj=p.name)
    for name, table in FEEDS.items():
        if name != "pings":
            pd.testing.assert_frame_equal(read_table(paths[name], table), getattr(nation, name), obj=name)
    if truth:
        written = read_truth(tmp_path)
        for name in TRUTH:
            pd.testing.assert_frame_equal(written[name], getattr(nation, name), obj=name)
    else:
        assert sorted(p.name for p in (tmp_path / "truth").iterdir()) == ["summary.json"]
    summary = json.loads(paths["summary"].read_text())
    window_start = (pd.Timestamp(CFG.as_of) - pd.Timedelta(days=CFG.n_days)).strftime("%Y-%m-%d")
    assert summary["n_pings"] == len(nation.pings)
    assert summary["n_cases_in_ping_window"] == int((nation.cases["confirmed_date"] >= window_start).sum()) > 0


def test_no_raw_number_in_truth_files(nation, tmp_path):
    write_nation(nation, tmp_path, "csv")
    write_nation(nation, tmp_path / "pq", "parquet")
    numbers = {m[-11:] for m in nation.pings["msisdn"].unique()}
    assert len(numbers) == CFG.n_subscribers
    for f in list((tmp_path / "truth").iterdir()) + list((tmp_path / "pq" / "truth").iterdir()):
        blob = f.read_bytes().decode("latin-1")
        assert not any(n in blob for n in numbers), f.name


def test_subscribers_and_places_tables(nation):
    s = nation.subscribers
    assert s.dtypes.astype(str).to_dict() == {c: str(pd.Series(dtype=t).dtype) for c, t in SUBSCRIBERS.items()}
    assert s["home_community_id"].isin(nation.communities["community_id"]).all()
    assert ((s["work_community_id"] == -1) | s["work_community_id"].isin(nation.communities["community_id"])).all()
    pop = s.groupby("home_community_id").size().reindex(nation.communities["community_id"], fill_value=0)
    assert (pop.to_numpy() == nation.communities["population"].to_numpy()).all()
    assert set(nation.places["kind"]) == {"community", "poi"} and list(nation.places.columns) == list(PLACES)


def test_config_is_validated():
    with pytest.raises(ValueError):
        NationConfig(n_days=20, epidemic_days=10)
    with pytest.raises(ValueError):
        NationConfig(ping_interval_minutes=(30, 5))


def test_embedded_city_table_matches_the_shared_files():
    table = read_city_table()
    assert len(table) == 373 and table["city_code"].is_unique
    assert table.loc[table["city_code"] == 420100, ["name", "name_en"]].values.tolist() == [["武汉市", "Wuhan"]]
    pd.testing.assert_frame_equal(read_china2020_cities(), table, check_exact=False, atol=1e-5)


def test_cli_needs_a_key_and_writes_a_nation(tmp_path, monkeypatch):
    from miniapp.cli import cli

    monkeypatch.delenv("RISKCARD_PSEUDONYM_KEY", raising=False)
    runner = CliRunner()
    res = runner.invoke(cli, ["synth", "--out", str(tmp_path / "n"), "--subscribers", "30", "--cities", "2"])
    assert res.exit_code != 0 and "RISKCARD_PSEUDONYM_KEY" in res.output and "Traceback" not in res.output
    key_file = tmp_path / "key.hex"
    key_file.write_text(KEY.hex())
    res = runner.invoke(cli, ["synth", "--out", str(tmp_path / "n"), "--subscribers", "30", "--cities", "2", "--days", "3",
                              "--as-of", "2020-02-01", "--seed", "1", "--format", "csv", "--pseudonym-key-file",
                              str(key_file), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "n" / "pings.csv").exists() and (tmp_path / "n" / "truth" / "true_stays.csv").exists()
    assert '"pings_per_subscriber_day"' in res.output
    bad = runner.invoke(cli, ["synth", "--out", str(tmp_path / "m"), "--as-of", "2020-13-01",
                              "--pseudonym-key-file", str(key_file)])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def test_contact_batches_give_the_same_pairs():
    from forecast.synth.pings import contact_minutes

    rng = np.random.default_rng(3)
    n, m = 400, 60
    person = np.sort(rng.integers(0, 50, n))
    group = rng.integers(0, 5, n)
    s = rng.integers(0, 80_000, n)
    e = s + rng.integers(1, 6_000, n)
    cg = rng.integers(0, 5, m)
    cs = rng.integers(0, 80_000, m)
    ce = cs + rng.integers(1, 6_000, m)
    ck = rng.integers(0, 7, m)
    whole = contact_minutes(ck, cg, cs, ce, person, group, s, e)
    batched = contact_minutes(ck, cg, cs, ce, person, group, s, e, max_pairs=5)
    assert len(whole[0]) > 0
    for a, b in zip(whole, batched):
        np.testing.assert_allclose(a, b)
    # brute force
    ov = np.minimum(e[:, None], ce[None, :]) - np.maximum(s[:, None], cs[None, :])
    ov = np.where((group[:, None] == cg[None, :]) & (ov > 0), ov, 0)
    want = pd.DataFrame({"k": np.broadcast_to(ck, ov.shape).ravel(), "p": np.repeat(person, m), "m": ov.ravel() / 60})
    want = want[want.m > 0].groupby(["k", "p"])["m"].sum()
    np.testing.assert_allclose(whole[2], want.to_numpy())
    assert whole[0].tolist() == want.index.get_level_values(0).tolist()


def _km(geo, a, b):
    pl = geo.places
    lat0 = np.radians(geo.cities["lat"].to_numpy()[geo.place_city[a]])
    dx = (pl["lon"].to_numpy()[a] - pl["lon"].to_numpy()[b]) * np.cos(lat0) * 111.2
    dy = (pl["lat"].to_numpy()[a] - pl["lat"].to_numpy()[b]) * 111.2
    return np.hypot(dx, dy)


def test_place_choice_follows_the_distance_kernel():
    from forecast.synth.geo import build_geography, choose_places, place_choice, select_cities

    geo = build_geography(select_cities(read_city_table(), 2), 12, 9, 0.25, np.random.default_rng(1))
    ch = place_choice(geo, "poi", 2.0)
    n_comm = len(geo.comm_weight)
    for h in (0, 5, n_comm - 1):  # brute force: exp(-d / 2 km) over the POIs of the home's city
        pois = np.flatnonzero((geo.places["kind"] == "poi").to_numpy() & (geo.place_city == geo.place_city[h]))
        want = np.exp(-_km(geo, np.full(len(pois), h), pois) / 2.0)
        got = np.diff(np.r_[0.0, ch.cum[h * ch.cand.shape[1]:(h + 1) * ch.cand.shape[1]] - h])
        np.testing.assert_allclose(pd.Series(got, ch.cand[h]).reindex(pois).to_numpy(), want / want.sum(), atol=1e-9)
    u = np.random.default_rng(0).random(40_000)
    picked = choose_places(ch, np.zeros(40_000, np.int64), u, np.zeros(40_000))
    freq = pd.Series(picked).value_counts(normalize=True).reindex(ch.cand[0], fill_value=0.0).to_numpy()
    np.testing.assert_allclose(freq, np.diff(np.r_[0.0, ch.cum[: ch.cand.shape[1]]]), atol=0.01)


def test_people_go_to_places_near_home():
    from forecast.synth.nation import build_routine
    from forecast.synth.routine import day_segments

    base = NationConfig(n_cities=2, n_subscribers=3000, communities_per_city=40, pois_per_city=30, seed=3,
                        cross_border_work_share=0.0, trip_rate_per_day=0.0)
    dist = {}
    for name, cfg in {"decay": base, "uniform": replace(base, work_scale_km=None, poi_scale_km=None)}.items():
        r = build_routine(cfg, KEY)
        w = r.pop.work >= 0
        seg = day_segments(r, 0, 0, 1)
        poi = seg.place[:, 3] >= len(r.geo.comm_weight)  # evenings at a POI
        dist[name] = (_km(r.geo, r.pop.home[w], r.pop.work[w]).mean(), _km(r.geo, seg.place[poi, 0], seg.place[poi, 3]).mean())
        assert (r.geo.place_city[r.pop.work[w]] == r.pop.home_city[w]).all()
    assert dist["decay"][0] < 0.6 * dist["uniform"][0]  # commutes are shorter ...
    assert dist["decay"][1] < 0.5 * dist["uniform"][1]  # ... and evenings out are nearer still
    with pytest.raises(ValueError):
        NationConfig(work_scale_km=0.0)
