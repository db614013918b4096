"""Fixtures of the state-store tests: a fake clock, and a real redis-server started in a temp dir.

Without a ``redis-server`` binary the Redis tests are skipped locally, but fail when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil

import pytest

from miniapp.state import open_state
from tests.miniapp.redis_server import RedisServer

T0 = 1_600_000_000


class FakeClock:
    """A settable clock: ``clock()`` returns ``clock.t``; ``clock.advance(s)`` moves it."""

    def __init__(self, t: float = T0) -> None:
        self.t = float(t)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def _need_redis() -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is missing but CI=true: install it (Debian package redis-server)")
        pytest.skip("redis-server not installed")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server shared by the session's tests (each test flushes its database)."""
    _need_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path):
    """A redis-server for one test only (tests that kill it)."""
    _need_redis()
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request):
    return request.param


@pytest.fixture
def store_url(backend, request, tmp_path):
    """URL of an empty store of the parametrised backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server = request.getfixturevalue("redis_server")
    import redis

    with redis.Redis.from_url(server.url) as r:
        r.flushdb()
    return server.url


@pytest.fixture
def store(store_url, clock):
    st = open_state(store_url, clock=clock)
    yield st
    st.close()
