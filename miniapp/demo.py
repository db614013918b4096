"""The demo: a synthetic nation, built into a snapshot and served locally, from one command.

Everything lives in one directory (``var/demo`` by default, git-ignored): generated secrets
(``secrets.env``, mode 0600), a signing key, the synthetic feeds, the build, the state store.
Each step runs only when its output is missing, so a second ``riskcard demo`` starts at once.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import pandas as pd

from forecast.epidemic import backtest
from forecast.phones import pseudonymise_series
from forecast.synth import NationConfig, generate_nation, write_nation
from forecast.feeds import find_feed, read_feed
from forecast.synth.venues import synth_case_places, synth_clinics
from miniapp.cards import card_for
from miniapp.crowd.demo import crowd_paths, prepare_demo_crowd
from miniapp.pipeline import BuildParams, run_daily_builds
from miniapp.proofs import generate_key, load_signing_keys
from miniapp.snapshot import atomic_write_text, open_current, read_current


DEMO_AS_OF = "2020-02-01"


@dataclass(frozen=True)
class DemoSize:
    """The demo nation: a carrier's subscribers in 6 real cities, and the residents they live among.

    Believable by default: ``residents_per_subscriber`` residents per subscriber give communities of
    about 900 residents (a few hundred to a few thousand, like a real 小区) and an outbreak whose
    incidence per resident is that of early 2020 China outside Wuhan (the seed city, Chongqing, peaks
    near 15 new cases per 100k a day; most cities have a few cases a week). ``history_days`` past days
    are built one by one from the data known on each day, so every chart has that much history.
    """

    subscribers: int = 3000
    cities: int = 6
    communities_per_city: int = 30
    history_days: int = 14  # past days built before the served one (the trend chart's history)
    seed: int = 7
    # A milder outbreak than the synth default (R about 1), so the demo shows green, yellow and orange cards.
    transmission_per_hour: float = 0.009
    residents_per_subscriber: int = 60
    residents_per_seed: int = 6000  # imported infections in the first week: one per this many residents
    # The forecast's backtest on the real 2020 provinces shown on the methods page (`riskcard backtest
    # --json --every-days 6 --members 100`, ~6 s; the default 3 days and 300 members take ~35 s).
    backtest_every_days: int = 6
    backtest_members: int = 100

    @property
    def days(self) -> int:
        """Days of pings: the history plus the retention window of its first day."""
        return self.history_days + BuildParams().retention_days

    @property
    def seed_infections(self) -> int:
        """Imported infections that start the outbreak."""
        return max(3, round(self.subscribers * self.residents_per_subscriber / self.residents_per_seed))


def demo_secrets(demo_dir: Path) -> dict[str, str]:
    """Read, or create once, the demo's own random secrets.

    The pseudonym key, the Flask secret and a Twilio auth token (32 hex digits, like Twilio's: it signs
    and checks the webhook requests of the demo phone, ``/demo/phone``). A ``secrets.env`` made before
    a secret existed gets the missing one appended; the others are kept.
    """
    path = demo_dir / "secrets.env"
    wanted = {"RISKCARD_PSEUDONYM_KEY": lambda: secrets.token_hex(32), "RISKCARD_SECRET_KEY": lambda: secrets.token_hex(32),
              "RISKCARD_TWILIO_AUTH_TOKEN": lambda: secrets.token_hex(16)}
    if not path.exists():
        demo_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{name}={make()}\n" for name, make in wanted.items())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    found = {k.strip(): v.strip() for k, v in pairs}
    missing = {name: make() for name, make in wanted.items() if not found.get(name)}
    if missing:
        text = path.read_text(encoding="utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # the file keeps its mode (0600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(("" if not text or text.endswith("\n") else "\n") + "".join(f"{k}={v}\n" for k, v in missing.items()))
        found.update(missing)
    return found


def demo_settings(demo_dir: Path, port: int = 8000) -> dict[str, str]:
    """The RISKCARD_* environment of the demo server."""
    env = demo_secrets(demo_dir)
    env.update(
        RISKCARD_SNAPSHOT_DIR=str(demo_dir / "build" / "snapshots"),
        RISKCARD_STATE_URL="sqlite:///" + str(demo_dir / "state.db"),
        RISKCARD_SIGNING_KEY_DIR=str(demo_dir / "keys"),
        RISKCARD_PUBLIC_URL=f"http://127.0.0.1:{port}",
        RISKCARD_SMS_BACKEND="outbox",
        RISKCARD_DEMO="1",
        RISKCARD_DEMO_OUTBOX=str(demo_dir / "outbox.jsonl"),
        # The demo phone (/demo/phone) signs as this account; no real account: the SID is made up and
        # the number is Twilio's test number, which no real phone has.
        RISKCARD_TWILIO_ACCOUNT_SID="AC" + "de" * 16,
        RISKCARD_SMS_NUMBER="+15005550006",
        # Market crowding (docs/crowding.md): the demo's markets, their synthetic pings and the crowd store.
        RISKCARD_CROWD_DIR=str(crowd_paths(demo_dir)["dir"]),
        RISKCARD_CROWD_MARKETS=str(crowd_paths(demo_dir)["markets"]),
        RISKCARD_CROWD_PINGS=str(crowd_paths(demo_dir)["pings"]),
    )
    return env


def prepare_demo(demo_dir: Path, size: DemoSize = DemoSize(), *, port: int = 8000, log: Callable[[str], None] = print) -> dict:
    """Generate, build and pick examples; returns settings, example communities and numbers."""
    demo_dir = Path(demo_dir)
    env = demo_settings(demo_dir, port)
    key = bytes.fromhex(env["RISKCARD_PSEUDONYM_KEY"])
    keys_dir = demo_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not load_signing_keys(keys_dir).keys:
        generate_key(keys_dir, not_before_s=0)
        log("signing key generated")
    feeds = demo_dir / "feeds"
    if not (feeds / "pings.parquet").exists() and not (feeds / "pings").exists():
        log(f"generating a synthetic nation: {size.subscribers:,} subscribers among "
            f"{size.subscribers * size.residents_per_subscriber:,} residents, {size.cities} cities ...")
        cfg = NationConfig(
            n_cities=size.cities,
            n_subscribers=size.subscribers,
            n_days=size.days,
            epidemic_days=max(40, size.days),
            as_of=DEMO_AS_OF,
            seed=size.seed,
            communities_per_city=size.communities_per_city,
            transmission_per_hour=size.transmission_per_hour,
            residents_per_subscriber=size.residents_per_subscriber,
            seed_infections=size.seed_infections,
        )
        write_nation(generate_nation(cfg, key), feeds)
    if not (feeds / "case_places.csv").exists():
        write_place_feeds(feeds, key)
    build_dir = demo_dir / "build"
    if read_current(build_dir / "snapshots") is None:
        figures = build_dir / "figures.json"
        if not figures.exists() and size.backtest_every_days:
            log("backtesting the forecast on the 2020 provinces (for the methods page) ...")
            build_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(figures, json.dumps({"backtest": backtest_figures(size.backtest_every_days,
                                                                                size.backtest_members)}))
        first = (date.fromisoformat(DEMO_AS_OF) - timedelta(days=size.history_days)).isoformat()
        log(f"building the snapshot: each day {first} .. {DEMO_AS_OF} from the data known that day ...")
        run_daily_builds(feeds, first, DEMO_AS_OF, build_dir, pseudonym_key=key, log=log)
    prepare_demo_crowd(demo_dir, feeds, key, residents_per_subscriber=size.residents_per_subscriber,
                       n_subscribers=size.subscribers, log=log)
    return {
        "env": env,
        "url": env["RISKCARD_PUBLIC_URL"],
        # Recomputed from the feeds each time (under a second): no file outside the raw feeds holds a number.
        "people": pick_people(feeds, Path(env["RISKCARD_SNAPSHOT_DIR"]), key),
        "communities": pick_communities(Path(env["RISKCARD_SNAPSHOT_DIR"])),
    }


def refresh_demo_crowd(demo_dir: Path, size: DemoSize = DemoSize(), *, every_minutes: int = 14,
                       log: Callable[[str], None] = print) -> dict | None:
    """One turn of the demo's crowd timer: the markets' synthetic pings up to now and a refresh, when the
    store is ``every_minutes`` old or older (None when it was fresher). A failure is logged, not raised:
    the pages then say how old the store is, as they would in a deployment."""
    env = demo_settings(Path(demo_dir))
    try:
        return prepare_demo_crowd(Path(demo_dir), Path(demo_dir) / "feeds", bytes.fromhex(env["RISKCARD_PSEUDONYM_KEY"]),
                                  residents_per_subscriber=size.residents_per_subscriber,
                                  n_subscribers=size.subscribers, refresh_after_minutes=every_minutes, log=log)
    except Exception as exc:  # noqa: BLE001 - the timer goes on; the store left as it was says its age
        log(f"market crowding refresh failed: {type(exc).__name__}: {exc}")
        return None


def write_place_feeds(feeds: Path, key: bytes) -> None:
    """The demo's case-places and clinics feeds (``forecast.synth.venues``), from its communities and cases."""
    cities, _, _ = read_feed(find_feed(feeds, "cities"), "cities")
    communities, _, _ = read_feed(find_feed(feeds, "communities"), "communities")
    cases_path = find_feed(feeds, "cases")
    cases = read_feed(cases_path, "cases", pseudonym_key=key)[0] if cases_path else communities.iloc[:0]
    synth_clinics(cities).to_csv(feeds / "clinics.csv", index=False)
    synth_case_places(communities, cases).to_csv(feeds / "case_places.csv", index=False)


def backtest_figures(every_days: int, members: int) -> dict:
    """The methods page's backtest figures: ``riskcard backtest --json`` (provinces) with these settings.

    Parameters
    ----------
    every_days : int
        Days between forecast origins (2020-01-24 .. 2020-03-10).
    members : int
        Ensemble members of the filter.

    Returns
    -------
    dict
        Relative WIS against the baselines, interval coverages, and the settings and command that
        reproduce them.
    """
    start, end = "2020-01-24", "2020-03-10"
    tasks = backtest.run_backtest(backtest.province_inputs(), pd.date_range(start, end, freq=f"{every_days}D"), 14,
                                  exclude=backtest.DEFAULT_EXCLUDE, fit_kwargs={"n_members": members, "seed": 0})
    s = backtest.summarise(tasks)
    keep = ("n_tasks", "relative_wis_vs_persistence", "relative_wis_vs_loglinear", "coverage_50", "coverage_95")
    return {**{k: s[k] for k in keep if k in s}, "level": "province", "start": start, "end": end,
            "every_days": every_days, "members": members, "horizon_days": 14,
            "command": f"riskcard backtest --json --every-days {every_days} --members {members}"}


def pick_people(feeds: Path, snapshot_dir: Path, key: bytes) -> dict[str, str]:
    """One synthetic test number per card colour (orange, yellow, green) for the demo to print."""
    import pandas as pd


    store = open_current(snapshot_dir)()
    numbers = pd.read_parquet(feeds / "pings.parquet", columns=["msisdn"])["msisdn"].drop_duplicates().head(3000)
    uids, _ = pseudonymise_series(numbers, key)
    found: dict[str, str] = {}
    for number, uid in zip(numbers, uids):  # demo-time only, a few thousand at most
        card = card_for(store, int(uid))
        colour = card["colour"] if card["has_records"] else None
        if colour and colour not in found:
            found[colour] = str(number)
        if len(found) == 3:
            break
    return found


def pick_communities(snapshot_dir: Path, n: int = 3) -> list[dict]:
    """The highest-graded communities, with their pinyin initials to type."""
    from pypinyin import Style, lazy_pinyin


    store = open_current(snapshot_dir)()
    graded = sorted((g for g in store.grades() if g.get("score") is not None), key=lambda g: -float(g["score"]))[:n]
    return [
        {"name": g["name"], "initials": "".join(lazy_pinyin(g["name"], style=Style.FIRST_LETTER)), "grade_zh": g.get("grade_zh"), "id": g["community_id"]}
        for g in graded
    ]
