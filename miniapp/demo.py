"""The demo: a synthetic nation, built into a snapshot and served locally, from one command.

Everything lives in one directory (``var/demo`` by default, git-ignored): generated secrets
(``secrets.env``, mode 0600), a signing key, the synthetic feeds, the build, the state store.
Each step runs only when its output is missing, so a second ``riskcard demo`` starts at once.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from forecast.phones import pseudonymise_series
from forecast.synth import NationConfig, generate_nation, write_nation
from miniapp.cards import card_for
from miniapp.pipeline import run_build
from miniapp.proofs import generate_key, load_signing_keys
from miniapp.snapshot import open_current, read_current


DEMO_AS_OF = "2020-02-01"


@dataclass(frozen=True)
class DemoSize:
    subscribers: int = 3000
    cities: int = 6
    communities_per_city: int = 30
    days: int = 14
    seed: int = 7
    # A milder outbreak than the synth default, so the demo shows green, yellow and orange cards.
    transmission_per_hour: float = 0.009


def demo_secrets(demo_dir: Path) -> dict[str, str]:
    """Read, or create once, the demo's own random secrets."""
    path = demo_dir / "secrets.env"
    if not path.exists():
        demo_dir.mkdir(parents=True, exist_ok=True)
        text = f"RISKCARD_PSEUDONYM_KEY={secrets.token_hex(32)}\nRISKCARD_SECRET_KEY={secrets.token_hex(32)}\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


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
        log(f"generating a synthetic nation: {size.subscribers} subscribers, {size.cities} cities ...")
        cfg = NationConfig(
            n_cities=size.cities,
            n_subscribers=size.subscribers,
            n_days=size.days,
            as_of=DEMO_AS_OF,
            seed=size.seed,
            communities_per_city=size.communities_per_city,
            transmission_per_hour=size.transmission_per_hour,
        )
        write_nation(generate_nation(cfg, key), feeds)
    build_dir = demo_dir / "build"
    if read_current(build_dir / "snapshots") is None:
        log("building the snapshot ...")
        run_build(feeds, DEMO_AS_OF, build_dir, pseudonym_key=key, log=log)
    return {
        "env": env,
        "url": env["RISKCARD_PUBLIC_URL"],
        # Recomputed from the feeds each time (under a second): no file outside the raw feeds holds a number.
        "people": pick_people(feeds, Path(env["RISKCARD_SNAPSHOT_DIR"]), key),
        "communities": pick_communities(Path(env["RISKCARD_SNAPSHOT_DIR"])),
    }


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
