"""Fixtures shared across packages: a real app over a real published snapshot on disk."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI") == "true"


def require_binary(name: str) -> str:
    """The path of a system binary the test needs: missing fails in CI (an install step is missing), skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed: `make system-deps` installs it")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright (tests/browser_kit.chromium), one per test module; skips without it."""
    from tests.browser_kit import chromium

    require_binary("chromium")
    with chromium() as b:
        yield b


@pytest.fixture
def app_config(tmp_path):
    from miniapp.proofs import generate_key
    from tests.miniapp.snapshot_fixture import TEST_KEY, publish_fixture

    snapshots = publish_fixture(tmp_path / "snapshots")
    keys = tmp_path / "keys"
    keys.mkdir()
    generate_key(keys)
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(snapshots),
        "STATE_URL": "sqlite:///" + str(tmp_path / "state.db"),
        "SIGNING_KEY_DIR": str(keys),
        "PUBLIC_URL": "https://riskcard.test",
        "SMS_BACKEND": "outbox",
        "DEMO": 1,  # codes are read from the demo outbox file, as a demo user reads them
        "DEMO_OUTBOX": str(tmp_path / "outbox.jsonl"),
    }


@pytest.fixture
def app(app_config):
    from miniapp.app import create_app

    return create_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()
