"""The long-lived objects one app process shares: the snapshot store, the state store, keys.

Blueprints reach them through ``current_app.extensions["riskcard"]``; item access
(``services["state"]``) and attribute access (``services.state``) both work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecast.phones import uid_to_pseudonym
from miniapp.proofs import issue_card_token, load_signing_keys, mint_short_link
from miniapp.snapshot import open_current
from miniapp.state import open_state


log = logging.getLogger(__name__)


@dataclass
class Services:
    snapshot_dir: Path
    state_url: str
    pseudonym_key: bytes
    signing_key_dir: Path
    app_secret: bytes
    public_url: str = ""
    _state: Any = None
    _store_opener: Any = None
    _keyring: Any = None
    _keyring_stamp: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> "Services":
        return cls(
            snapshot_dir=Path(str(config["SNAPSHOT_DIR"])),
            state_url=str(config["STATE_URL"]),
            pseudonym_key=bytes.fromhex(str(config["PSEUDONYM_KEY"])),
            signing_key_dir=Path(str(config["SIGNING_KEY_DIR"])),
            app_secret=str(config["SECRET_KEY"]).encode(),
            public_url=str(config.get("PUBLIC_URL", "")).rstrip("/"),
        )

    # -- state store (mutable: codes, limits, consent, opt-outs, proofs, alerts, audit) --
    @property
    def state(self):
        if self._state is None:
            with self._lock:
                if self._state is None:
                    self._state = open_state(self.state_url)
        return self._state

    # -- snapshot store (immutable, swapped when a new build is published) --
    def store(self):
        """The current SnapshotStore, or None when nothing is published yet."""
        if self._store_opener is None:
            with self._lock:
                if self._store_opener is None:
                    self._store_opener = open_current(self.snapshot_dir)
        return self._store_opener()

    @property
    def keyring(self):
        """The signing keys, reloaded when the key directory changes (rotation needs no restart)."""
        try:
            stamp = self.signing_key_dir.stat().st_mtime_ns
        except OSError:
            stamp = None
        if self._keyring is None or stamp != self._keyring_stamp:
            with self._lock:
                if self._keyring is None or stamp != self._keyring_stamp:
                    self._keyring = load_signing_keys(self.signing_key_dir)
                    self._keyring_stamp = stamp
        return self._keyring

    def card_link(self, uid: int, masked: str | None) -> str:
        """A short link to a freshly signed card of ``uid`` (the bot's SMS replies carry it)."""
        store = self.store()
        if store is None:
            return self.public_url + "/card"
        _, token = issue_card_token(self.state, store, self.keyring, uid, uid_to_pseudonym(uid), masked or "***")
        return f"{self.public_url}/c/{mint_short_link(self.state, token)}"

    def health(self) -> dict[str, bool]:
        try:
            snapshot_ok = self.store() is not None
        except Exception:  # noqa: BLE001 - health reports, never raises
            log.exception("snapshot store unavailable")
            snapshot_ok = False
        try:
            state_ok = bool(self.state.ping())
        except Exception:  # noqa: BLE001
            log.warning("state store unavailable")
            state_ok = False
        return {"snapshot": snapshot_ok, "state": state_ok}

    def __getitem__(self, key: str):
        if key == "store":
            return self.store
        return getattr(self, key)
