"""Durable files: the snapshot's error type, checksums, fsync, atomic replacement, read-only opening.

Shared by the writer, the publisher, the reader and the build's cache, so that every file the service
relies on is replaced atomically and made durable the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import quote


class SnapshotError(Exception):
    """A snapshot cannot be written, published or opened; the message says why."""


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks.

    Parameters
    ----------
    path : str or path-like
        The file to hash.

    Returns
    -------
    str
        The 64-character lowercase hex digest (as ``sha256sum`` prints it).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     file_sha256(f.name)[:12]
    'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a directory's entries (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: temp file in the same directory, fsync, rename, fsync dir.

    Readers see the old content or the new, never a part; on any error the temp file is removed and the
    error propagates, leaving ``path`` as it was.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace; its directory must exist.
    text : str
        The new content, written as UTF-8.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     atomic_write_text(Path(d) / "x", "one")
    ...     atomic_write_text(Path(d) / "x", "two")
    ...     (Path(d) / "x").read_text(), sorted(p.name for p in Path(d).iterdir())
    ('two', ['x'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def open_readonly(path: str | os.PathLike) -> sqlite3.Connection:
    """A read-only connection to an immutable snapshot file (no locks, no journal, no writes).

    Parameters
    ----------
    path : str or path-like
        The snapshot file; it must not change while open (``immutable=1``: SQLite trusts it does not).

    Returns
    -------
    sqlite3.Connection
        Opened with ``mode=ro&immutable=1``, usable from any thread (``check_same_thread=False``); the
        caller closes it.
    """
    uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)
