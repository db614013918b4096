"""Fixtures for the bot: fake numbers, a test double of the snapshot store interface, a state store,
a minimal Flask app with the blueprints, and Twilio signing. Helpers reach tests through ``kit``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask

from twilio.request_validator import RequestValidator

from forecast.phones import pseudonymise, uid_to_pseudonym
from miniapp.state import open_state

PSEUDONYM_KEY = bytes.fromhex("11" * 32)
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_URL = "https://riskcard.example.cn"


def phone(n: int = 0) -> str:
    """A fake Chinese mobile number (E.164), built in code."""
    return "+86" + "138" + f"{138000 + n:08d}"


def uid_of(e164: str) -> int:
    return pseudonymise(e164, PSEUDONYM_KEY)


def subject_of(e164: str) -> str:
    return uid_to_pseudonym(uid_of(e164))


COMMUNITIES = [
    {"community_id": 1, "name": "新华小区", "city_code": 420100, "city_name": "武汉", "district": "江岸区",
     "pinyin": "xinhuaxiaoqu", "initials": "xhxq"},
    {"community_id": 2, "name": "新华里", "city_code": 420100, "city_name": "武汉", "district": "江汉区",
     "pinyin": "xinhuali", "initials": "xhl"},
    {"community_id": 3, "name": "百步亭花园", "city_code": 420100, "city_name": "武汉", "district": "江岸区",
     "pinyin": "baibutinghuayuan", "initials": "bbthy"},
]


class FakeStore:
    """Test double of miniapp.snapshot.read.SnapshotStore: only the methods the bot may call."""

    def __init__(self, itineraries: dict[int, dict] | None = None):
        self.itineraries = itineraries or {}
        self.calls: list[str] = []

    def search_communities(self, query: str, limit: int = 10) -> list[dict]:
        self.calls.append("search_communities")
        q = query.lower()
        hits = [c for c in COMMUNITIES if q in c["name"] or q in c["pinyin"] or c["initials"].startswith(q)]
        return [{k: c[k] for k in ("community_id", "name", "city_code", "city_name", "district")}
                | {"grade": "low", "grade_zh": "偏低"} for c in hits[:limit]]

    def community(self, community_id: int) -> dict | None:
        self.calls.append("community")
        for c in COMMUNITIES:
            if c["community_id"] == community_id:
                return {"community_id": community_id, "name": c["name"], "district": c["district"],
                        "grade": "medium_high", "grade_zh": "中高", "score": 12.5, "trend": "up",
                        "city_starred": True,
                        "reasons": [{"factor": "imported", "text_zh": "外来人员增多", "text_en": "more arrivals",
                                     "contribution": 0.2},
                                    {"factor": "cases", "text_zh": "近7天新增3例", "text_en": "3 new cases in 7 days",
                                     "contribution": 0.7}]}
        return None

    def itinerary(self, uid: int) -> dict | None:
        self.calls.append("itinerary")
        return self.itineraries.get(int(uid))

    def meta(self) -> dict:
        return {"built_at": "2020-02-03T00:00:00+08:00", "as_of": "2020-02-03", "window_start": "2020-01-20",
                "window_end": "2020-02-02"}


def itinerary_for(n_cities: int = 2, colour: str = "yellow") -> dict:
    """The snapshot's records of one subscriber whose card has ``colour`` (miniapp.cards' policy)."""
    names = [("武汉", "Wuhan", True), ("北京", "Beijing", False), ("上海", "Shanghai", False),
             ("广州", "Guangzhou", True), ("深圳", "Shenzhen", False), ("成都", "Chengdu", False)]
    cities = [{"city_code": 100000 + i, "name": names[i % 6][0], "name_en": names[i % 6][1],
               "starred": names[i % 6][2] and colour != "green"} for i in range(n_cities)]
    exposure = [{"last_date": "2020-01-30", "minutes": 75.0, "cases": 1, "level": "companion"}] \
        if colour == "orange" else []
    return {"window_start": "2020-01-20", "window_end": "2020-02-02", "cities": cities, "exposure": exposure,
            "updated_at": "2020-02-03T06:00:00+08:00", "as_of": "2020-02-03"}



def sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature made by twilio's own RequestValidator."""
    return RequestValidator(token).compute_signature(url, params)


@pytest.fixture
def state(tmp_path):
    st = open_state("sqlite:///" + str(tmp_path / "state.db"))
    yield st
    st.close()


@pytest.fixture
def store():
    return FakeStore({uid_of(phone(1)): itinerary_for(2), uid_of(phone(2)): itinerary_for(40, "orange")})


@pytest.fixture
def app(state, store):
    app = Flask(__name__)
    app.config.update(
        TESTING=True, SECRET_KEY="s" * 32, PUBLIC_URL=PUBLIC_URL, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["riskcard"] = {"state": state, "store": lambda: store, "pseudonym_key": PSEUDONYM_KEY}
    from bot import chat, sms

    app.register_blueprint(sms.bp)
    app.register_blueprint(chat.bp)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def kit():
    """The helpers above, for test modules (conftest is not importable by name)."""
    return SimpleNamespace(
        phone=phone, uid_of=uid_of, subject_of=subject_of, sign=sign, FakeStore=FakeStore,
        itinerary_for=itinerary_for, PSEUDONYM_KEY=PSEUDONYM_KEY, AUTH_TOKEN=AUTH_TOKEN,
        ACCOUNT_SID=ACCOUNT_SID, PUBLIC_URL=PUBLIC_URL,
    )
