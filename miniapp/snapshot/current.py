"""The snapshot being served: :class:`CurrentSnapshot` follows the ``CURRENT`` pointer.

:func:`open_current` returns a :class:`CurrentSnapshot`, a callable that gives the store of the
snapshot named by ``CURRENT`` and notices a newly published one (it looks at the pointer at most
once per second per process) without a restart. A new snapshot that fails its checks is refused
with a logged error and the previous one keeps being served.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from miniapp.snapshot.files import SnapshotError
from miniapp.snapshot.publish import CURRENT, list_snapshots, read_current
from miniapp.snapshot.read import SnapshotStore

log = logging.getLogger(__name__)


class CurrentSnapshot:
    """Callable giving the store of the snapshot CURRENT names; swaps in a newly published one.

    ``current()`` returns a :class:`SnapshotStore` or None when nothing is published. The pointer is
    looked at no more than every ``check_interval_s``; a new snapshot that fails its checks is
    refused (``error`` says why) and the previous store keeps serving.
    """

    def __init__(self, snapshot_dir: str | os.PathLike, check_interval_s: float = 1.0):
        self.snapshot_dir = Path(snapshot_dir)
        self.check_interval_s = check_interval_s
        self.store: SnapshotStore | None = None
        self.error: str | None = None
        self._pointer: tuple | None = None
        self._signature: tuple | None = None
        self._refused: set[tuple] = set()
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> SnapshotStore | None:
        if time.monotonic() - self._checked < self.check_interval_s:
            return self.store
        with self._lock:
            if time.monotonic() - self._checked >= self.check_interval_s:
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
            store = SnapshotStore(self.snapshot_dir / pointer["name"], pointer["sha256"])
        except (SnapshotError, sqlite3.DatabaseError, OSError) as exc:
            self._refuse(signature, key, str(exc))
            return
        old, self.store, self._pointer, self._signature, self.error = self.store, store, key, signature, None
        log.info("serving snapshot %s (as_of %s)%s", pointer["name"], store.meta().get("as_of"),
                 f", replacing {old.path.name}" if old else "")

    def _refuse(self, signature: tuple, key: tuple | None, reason: str) -> None:
        self._signature = signature
        if key is not None:
            self._refused.add(key)
        if self.store is None:
            self._fall_back(key)
        serving = f"; serving {self.store.path.name}" if self.store else "; nothing to serve"
        self.error = f"refused new snapshot: {reason}{serving}"
        log.error("%s", self.error)

    def _fall_back(self, refused: tuple | None) -> None:
        """A process that had opened nothing yet serves the newest earlier snapshot that passes its checks.

        (One that had opened a snapshot keeps it; this is for a worker started after a bad publish.)
        """
        for snap in reversed(list_snapshots(self.snapshot_dir)):
            if snap["current"] or not snap["sha256"] or (refused and snap["name"] == refused[0]):
                continue
            try:
                self.store = SnapshotStore(snap["path"], snap["sha256"])
            except (SnapshotError, sqlite3.DatabaseError, OSError):
                continue
            log.warning("CURRENT is refused; serving the last good snapshot %s", snap["name"])
            return


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
