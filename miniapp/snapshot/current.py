"""The snapshot being served: :class:`CurrentSnapshot` follows the ``CURRENT`` pointer.

:func:`open_current` returns a :class:`CurrentSnapshot`, a callable that gives the store of the
snapshot named by ``CURRENT`` and notices a newly published one (it looks at the pointer at most
once per second per process) without a restart. A new snapshot that fails its checks is refused
with a logged error and the previous one keeps being served.

A served file damaged in place (an SQLite error on a query, confirmed by re-hashing, or a changed
size/mtime/inode at the periodic look) is dropped for the newest other published snapshot whose bytes
match its recorded sha256: ``damaged`` says so until a sound snapshot is published, ``damaged_total``
counts the detections, one warning is logged (docs/reliability.md).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from miniapp.metrics import SNAPSHOT_DAMAGED
from miniapp.snapshot.files import SnapshotError
from miniapp.snapshot.publish import CURRENT, list_snapshots, read_current
from miniapp.snapshot.read import SnapshotStore

log = logging.getLogger(__name__)


class CurrentSnapshot:
    """Callable giving the store of the snapshot CURRENT names; swaps in a newly published one.

    ``current()`` returns a :class:`SnapshotStore` or None when nothing is published. The pointer is
    looked at no more than every ``check_interval_s``; a new snapshot that fails its checks is
    refused (``error`` says why) and the previous store keeps serving.

    The served file is looked at too (a ``stat``, re-hashed when it changed). Once it is found
    damaged, there or by a failing query, the last good snapshot is served instead (None if there is
    none), ``damaged`` is ``{"name", "reason", "serving"}`` until ``CURRENT`` names a sound snapshot
    again, and ``damaged_total`` counts. A query that met the damage is answered from the fallback;
    with none, it raises ``unavailable_error`` (a :class:`SnapshotError`; the web app sets one that
    answers 503).
    """

    def __init__(self, snapshot_dir: str | os.PathLike, check_interval_s: float = 1.0):
        self.snapshot_dir = Path(snapshot_dir)
        self.check_interval_s = check_interval_s
        self.store: SnapshotStore | None = None
        self.error: str | None = None
        self.damaged: dict | None = None
        self.damaged_total = 0
        self.unavailable_error: type[Exception] = SnapshotError
        self._damaged_names: set[str] = set()
        self._pointer: tuple | None = None
        self._signature: tuple | None = None
        self._refused: set[tuple] = set()
        self._checked = float("-inf")
        self._lock = threading.RLock()  # re-entered when a store found damaged under _refresh asks for a fallback

    def __call__(self) -> SnapshotStore | None:
        if time.monotonic() - self._checked < self.check_interval_s:
            return self.store
        with self._lock:
            if time.monotonic() - self._checked >= self.check_interval_s:
                self._refresh()
                self._checked = time.monotonic()
        return self.store

    def check(self) -> SnapshotStore | None:
        """Look at ``CURRENT`` and the served file now, whatever the interval (health and metrics).

        Returns
        -------
        SnapshotStore or None
            The store to serve after the look, as a call would return it.
        """
        with self._lock:
            self._refresh()
            self._checked = time.monotonic()
        return self.store

    def require(self) -> SnapshotStore:
        """The current store, or :class:`SnapshotError` saying why there is none."""
        store = self()
        if store is None:
            raise SnapshotError(self.error or f"no snapshot is published in {self.snapshot_dir}")
        return store

    def _refresh(self) -> None:
        served = self.store
        if served is not None and served.check_file() is not None:
            self._drop_damaged(served)
        try:
            st = os.stat(self.snapshot_dir / CURRENT)
        except FileNotFoundError:
            if self.store is None:
                self.error = f"no snapshot is published in {self.snapshot_dir} (no {CURRENT} file)"
            return
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature == self._signature:
            return
        try:
            pointer = read_current(self.snapshot_dir)
        except SnapshotError as exc:
            self._refuse(signature, None, str(exc))
            return
        key = (pointer["name"], pointer["sha256"])
        if key == self._pointer or key in self._refused:
            self._signature = signature
            return
        try:
            store = SnapshotStore(self.snapshot_dir / pointer["name"], pointer["sha256"], on_damage=self._on_damage)
        except (SnapshotError, sqlite3.DatabaseError, OSError) as exc:
            self._refuse(signature, key, str(exc))
            return
        old, self.store, self._pointer, self._signature, self.error = self.store, store, key, signature, None
        self.damaged = None
        self._damaged_names.discard(pointer["name"])
        log.info("serving snapshot %s (as_of %s)%s", pointer["name"], store.meta().get("as_of"),
                 f", replacing {old.path.name}" if old else "")

    def _refuse(self, signature: tuple, key: tuple | None, reason: str) -> None:
        self._signature = signature
        if key is not None:
            self._refused.add(key)
        published = {s["name"]: s["sha256"] for s in list_snapshots(self.snapshot_dir)} if key else {}
        if self.store is None:
            self.store = self._fall_back({key[0]} if key else set())
            if self.store is not None:
                log.warning("CURRENT is refused; serving the last good snapshot %s", self.store.path.name)
        serving = f"; serving {self.store.path.name}" if self.store else "; nothing to serve"
        self.error = f"refused new snapshot: {reason}{serving}"
        if key is not None and published.get(key[0]) == key[1]:
            # published with this very checksum, so it passed every check then: damaged since
            self._damaged_names.add(key[0])
            self.damaged = {"name": key[0], "reason": reason, "serving": self.store.path.name if self.store else None}
            self.damaged_total += 1
            SNAPSHOT_DAMAGED.inc()
            self.error += f" (snapshot {key[0]} is damaged since it was published; publish a new one or roll back)"
        log.error("%s", self.error)

    def _fall_back(self, exclude: set[str]) -> SnapshotStore | None:
        """The newest published snapshot, other than CURRENT's and ``exclude``, that passes its checks.

        For a worker started after a bad publish (one that had opened a snapshot keeps it), and when
        the served file is found damaged. None if there is none.
        """
        for snap in reversed(list_snapshots(self.snapshot_dir)):
            if snap["current"] or not snap["sha256"] or snap["name"] in exclude or snap["name"] in self._damaged_names:
                continue
            try:
                return SnapshotStore(snap["path"], snap["sha256"], on_damage=self._on_damage)
            except (SnapshotError, sqlite3.DatabaseError, OSError):
                continue
        return None

    def _on_damage(self, store: SnapshotStore) -> SnapshotStore:
        """A store found its file damaged (``store.damaged``): the store to answer from instead.

        The first report drops it for the last good snapshot; later ones (other threads) get that.
        Raises ``unavailable_error`` when there is nothing sound to serve.
        """
        with self._lock:
            if store is self.store:
                self._drop_damaged(store)
            replacement = self.store
        if replacement is None or replacement is store:
            raise self.unavailable_error(self.error or f"snapshot {store.path.name} is damaged")
        return replacement

    def _drop_damaged(self, store: SnapshotStore) -> None:
        """Serve the last good snapshot instead of ``store``, whose file is damaged; count and log it once."""
        name = store.path.name
        self._damaged_names.add(name)
        self.damaged_total += 1
        SNAPSHOT_DAMAGED.inc()
        self.store = self._fall_back(set())  # meanwhile callers get the damaged store, which waits for this
        if self._pointer is not None and self._pointer[0] == name:
            self._pointer = None  # CURRENT naming it again (a restored file, a rollback) is checked afresh
        serving = self.store.path.name if self.store else None
        self.damaged = {"name": name, "reason": store.damaged, "serving": serving}
        self.error = (f"snapshot {name} is damaged ({store.damaged}); "
                      + (f"serving the last good snapshot {serving}" if serving else "no sound snapshot to serve"))
        log.warning("%s; publish a new snapshot or roll back", self.error)


_OPENERS: dict[Path, CurrentSnapshot] = {}


_OPENERS_LOCK = threading.Lock()


def open_current(snapshot_dir: str | os.PathLike, check_interval_s: float = 1.0) -> CurrentSnapshot:
    """The process's :class:`CurrentSnapshot` for ``snapshot_dir`` (one per directory and process).

    Parameters
    ----------
    snapshot_dir : str or path-like
        The snapshot directory holding ``CURRENT``; paths naming the same directory share one instance.
    check_interval_s : float
        Least time between two looks at the ``CURRENT`` pointer, in seconds; default 1.0. Asking with
        another interval than the existing instance's replaces it with a new one.

    Returns
    -------
    CurrentSnapshot
        The shared instance; call it for the current :class:`SnapshotStore` (None when nothing is
        published). Nothing is opened until the first call.

    Examples
    --------
    >>> import tempfile
    >>> current = open_current(tempfile.mkdtemp())
    >>> current() is None, "no snapshot" in current.error
    (True, True)
    """
    key = Path(snapshot_dir).resolve()
    with _OPENERS_LOCK:
        opener = _OPENERS.get(key)
        if opener is None or opener.check_interval_s != check_interval_s:
            opener = _OPENERS[key] = CurrentSnapshot(key, check_interval_s)
        return opener
