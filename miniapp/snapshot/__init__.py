"""The snapshot: one immutable SQLite file holding everything the service answers (docs/snapshot.md).

A build writes a new file beside the served one, checks it and publishes it by an atomic rename of
the ``CURRENT`` pointer; every worker reads it with ``mode=ro&immutable=1`` and notices a new one
without a restart. A killed or failed build never touches the served file.

- :mod:`~miniapp.snapshot.schema`: the tables, their columns and the migrations;
- :mod:`~miniapp.snapshot.write`: :func:`write_snapshot`, the engine's tables into a new file;
- :mod:`~miniapp.snapshot.publish`: checks, the atomic ``CURRENT`` swap, keeping N, rollback;
- :mod:`~miniapp.snapshot.read`: :class:`SnapshotStore`, the read API pages, API and bot use;
- :mod:`~miniapp.snapshot.current`: :class:`CurrentSnapshot`, the store of the published snapshot;
- :mod:`~miniapp.snapshot.replicate`: several app hosts, one build: copy, verify, swap; catch up;
- :mod:`~miniapp.snapshot.files`: the error type, checksums, fsync and atomic replacement.
"""

from miniapp.snapshot.current import CurrentSnapshot, open_current
from miniapp.snapshot.files import SnapshotError, atomic_write_text, file_sha256, open_readonly
from miniapp.snapshot.publish import (CURRENT, check_snapshot, list_snapshots, new_build_path, publish, read_current,
                                      rollback)
from miniapp.snapshot.read import SnapshotStore
from miniapp.snapshot.replicate import pull_snapshot, push_snapshot, source_current
from miniapp.snapshot.schema import LATEST_VERSION, TABLES
from miniapp.snapshot.write import write_snapshot

__all__ = [
    "CURRENT", "LATEST_VERSION", "TABLES", "CurrentSnapshot", "SnapshotError", "SnapshotStore", "atomic_write_text",
    "check_snapshot", "file_sha256", "list_snapshots", "new_build_path", "open_current", "open_readonly", "publish",
    "pull_snapshot", "push_snapshot", "read_current", "source_current", "rollback", "write_snapshot",
]
