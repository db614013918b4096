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

from werkzeug.exceptions import ServiceUnavailable

from forecast.phones import uid_to_pseudonym
from miniapp.otp import OtpPolicy
from miniapp.proofs import ProofError, issue_card_token, load_signing_keys, mint_short_link
from miniapp.snapshot import SnapshotError, open_current
from miniapp.state import open_state


log = logging.getLogger(__name__)


class SnapshotUnavailable(SnapshotError, ServiceUnavailable):
    """The served snapshot was found damaged and no sound one is left: a 503 page, never a 500.

    Raised by a store's query that met the damage (``CurrentSnapshot.unavailable_error``); later
    requests find no store and get the same 503 from the views.
    """


@dataclass
class Services:
    snapshot_dir: Path
    state_url: str
    pseudonym_key: bytes
    signing_key_dir: Path
    app_secret: bytes
    public_url: str = ""
    otp_policy: OtpPolicy = OtpPolicy()
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
            otp_policy=OtpPolicy.from_config(config),
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
        return self._opener()()

    def _opener(self):
        if self._store_opener is None:
            with self._lock:
                if self._store_opener is None:
                    opener = open_current(self.snapshot_dir)
                    opener.unavailable_error = SnapshotUnavailable
                    self._store_opener = opener
        return self._store_opener

    def snapshot_status(self) -> dict[str, Any]:
        """The served snapshot as health and metrics report it, after looking at it now (a ``stat``).

        Returns
        -------
        dict
            ``serving`` (file name, None when nothing is served), ``damaged`` (None, or the damaged
            file's ``name``, ``reason`` and the ``serving`` fallback while ``CURRENT`` names a damaged
            file), ``damaged_total`` (detections in this process) and ``error`` (the last problem, or None).
        """
        opener = self._opener()
        store = opener.check()
        return {"serving": store.path.name if store is not None else None, "damaged": opener.damaged,
                "damaged_total": opener.damaged_total, "error": opener.error}

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
        """A short link to a freshly signed card of ``uid`` (the bot's SMS replies carry it).

        A card shows whose it is by the masked number; without one none is signed (``ProofError``:
        the bot then links the card page, where the number is proven again).
        """
        store = self.store()
        if store is None:
            return self.public_url + "/card"
        if not masked:
            raise ProofError("no masked number to show on the card: not signed")
        _, token = issue_card_token(self.state, store, self.keyring, uid, uid_to_pseudonym(uid), masked)
        return f"{self.public_url}/c/{mint_short_link(self.state, token)}"

    def health(self) -> dict[str, object]:
        """``snapshot`` and ``state``: True when sound (the app answers 503 unless ``snapshot``).

        A damaged served file is not sound even while a fallback answers: ``snapshot`` is False and
        ``snapshot_damaged`` (True), ``damaged_snapshot`` and ``serving`` (the fallback, or None) are added.

        Returns
        -------
        dict
            ``{"snapshot": bool, "state": bool}``, plus the three damage fields while damaged.
        """
        damage: dict[str, object] = {}
        try:
            status = self.snapshot_status()
            snapshot_ok = status["serving"] is not None and status["damaged"] is None
            if status["damaged"] is not None:
                damage = {"snapshot_damaged": True, "damaged_snapshot": status["damaged"]["name"],
                          "serving": status["serving"]}
        except Exception:  # noqa: BLE001 - health reports, never raises
            log.exception("snapshot store unavailable")
            snapshot_ok = False
        try:
            state_ok = bool(self.state.ping())
        except Exception:  # noqa: BLE001
            log.warning("state store unavailable")
            state_ok = False
        return {"snapshot": snapshot_ok, "state": state_ok, **damage}

    def __getitem__(self, key: str):
        if key == "store":
            return self.store
        return getattr(self, key)
