"""Publish snapshots safely: check, atomic swap of the CURRENT pointer, keep the last N, roll back.

Layout of a snapshot directory::

    snapshot-20200210T031500123456Z.db          published snapshots, never modified
    snapshot-20200210T031500123456Z.db.sha256   their checksums (sha256sum format)
    CURRENT                                     JSON {"name", "sha256", "published_at"}: the served one
    .build-<pid>-<hex>.db                       a build in progress (never served)
    .lock                                       serialises publish / rollback / prune

The protocol (docs/snapshot.md): a build writes to a ``.build-*`` name in this directory, so the
served file is never touched. :func:`publish` checks the new file (integrity_check, schema version,
expected tables, rows where required, sha256), fsyncs it, renames it to its final name, writes its
checksum, then replaces CURRENT with ``os.replace`` of an fsynced temp file and fsyncs the
directory. A crash at any point leaves CURRENT naming a complete, checked file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from miniapp.snapshot import schema
from miniapp.snapshot.files import SnapshotError, atomic_write_text, file_sha256, fsync_dir, fsync_file, open_readonly

CURRENT = "CURRENT"
_PUBLISHED = re.compile(r"^snapshot-(\d{8}T\d{12}Z)(?:-\d+)?\.db$")
_BUILD = re.compile(r"^\.build-(\d+)-[0-9a-f]+\.db$")
_TEMP = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")
SQLITE_HEADER = b"SQLite format 3\x00"


@contextlib.contextmanager
def _locked(snapshot_dir: Path):
    with open(snapshot_dir / ".lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def new_build_path(snapshot_dir: str | os.PathLike) -> Path:
    """A fresh temporary name for a build, in ``snapshot_dir`` (same file system as the served files).

    Parameters
    ----------
    snapshot_dir : str or path-like
        The snapshot directory the build is to be published in.

    Returns
    -------
    Path
        ``snapshot_dir/.build-{pid}-{12 hex}.db``; no file is created. :func:`prune` removes such files
        left by dead processes.

    Examples
    --------
    >>> new_build_path("/srv/snapshots").name.startswith(".build-")
    True
    """
    return Path(snapshot_dir) / f".build-{os.getpid()}-{secrets.token_hex(6)}.db"


def check_snapshot(path: str | os.PathLike, expected_sha256: str | None = None, *, full: bool | None = True) -> dict:
    """Check that ``path`` is a complete, sound snapshot; return its facts or raise :class:`SnapshotError`.

    Checks the SQLite header, the checksum (when ``expected_sha256`` is given), ``PRAGMA
    integrity_check`` (``quick_check`` when ``full`` is False, none when None: a matching checksum of
    a file that passed the full check at publishing is enough), the schema version, that every table
    exists, that the required tables have rows and that meta has ``as_of``.

    Parameters
    ----------
    path : str or path-like
        The snapshot file.
    expected_sha256 : str, optional
        Its recorded hex SHA-256; default None: the checksum is computed but not compared.
    full : bool or None
        True (default): ``PRAGMA integrity_check``; False: ``PRAGMA quick_check``; None: no integrity
        check, meant for a file that passed the full check when published, with its ``expected_sha256``.

    Returns
    -------
    dict with ``sha256``, ``bytes``, ``schema_version``, ``as_of`` and ``rows`` (required tables).

    Raises
    ------
    SnapshotError
        If the file cannot be read, is not SQLite, does not match ``expected_sha256``, fails the integrity
        check, has another schema version, lacks a table, has an empty required table or no ``as_of``.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise SnapshotError(f"snapshot {path.name} cannot be read: {exc.strerror or exc}") from None
    if header != SQLITE_HEADER:
        raise SnapshotError(f"snapshot {path.name} is not an SQLite database (bad header; truncated or corrupt)")
    sha = file_sha256(path)
    if expected_sha256 is not None and sha != expected_sha256:
        raise SnapshotError(f"snapshot {path.name} does not match its recorded sha256 (corrupt or modified)")
    try:
        conn = open_readonly(path)
        try:
            pragma = "integrity_check" if full else "quick_check"
            result = ["ok"] if full is None else [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
            if result != ["ok"]:
                raise SnapshotError(f"snapshot {path.name} failed {pragma}: {'; '.join(map(str, result[:3]))}")
            version = schema.user_version(conn)
            if version != schema.LATEST_VERSION:
                raise SnapshotError(
                    f"snapshot {path.name} has schema version {version}, this code reads {schema.LATEST_VERSION}"
                )
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            missing = sorted(set(schema.TABLES) - names) + (["communities_fts"] if "communities_fts" not in names else [])
            if missing:
                raise SnapshotError(f"snapshot {path.name} lacks table(s) {', '.join(missing)}")
            rows = {t: conn.execute(f"SELECT COUNT(*) FROM [{t}]").fetchone()[0] for t in schema.REQUIRED_NONEMPTY}
            empty = [t for t, n in rows.items() if n == 0]
            if empty:
                raise SnapshotError(f"snapshot {path.name} has no rows in {', '.join(empty)}")
            as_of = conn.execute("SELECT value FROM meta WHERE key = 'as_of'").fetchone()
            if as_of is None:
                raise SnapshotError(f"snapshot {path.name} has no as_of in meta")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"snapshot {path.name} is unreadable: {exc}") from None
    return {"sha256": sha, "bytes": size, "schema_version": version, "as_of": json.loads(as_of[0]), "rows": rows}


def read_current(snapshot_dir: str | os.PathLike) -> dict | None:
    """The CURRENT pointer ({name, sha256, published_at}), or None when nothing is published.

    Parameters
    ----------
    snapshot_dir : str or path-like
        The snapshot directory.

    Returns
    -------
    dict or None
        The pointer as written by :func:`publish` or :func:`rollback`: ``name`` (a published file's
        name), ``sha256`` (its hex checksum) and ``published_at`` (ISO 8601 UTC); None without a
        ``CURRENT`` file.

    Raises
    ------
    SnapshotError
        If ``CURRENT`` is not JSON, not an object, names no published snapshot or has no ``sha256``.
    """
    try:
        text = (Path(snapshot_dir) / CURRENT).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        pointer = json.loads(text)
        if not (isinstance(pointer, dict) and _PUBLISHED.match(str(pointer.get("name", ""))) and pointer.get("sha256")):
            raise ValueError
    except ValueError:
        raise SnapshotError(f"the CURRENT pointer in {snapshot_dir} is damaged") from None
    return pointer


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _recorded_sha(path: Path) -> str | None:
    try:
        return _sidecar(path).read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def list_snapshots(snapshot_dir: str | os.PathLike) -> list[dict]:
    """Published snapshots, oldest first: name, path, bytes, sha256 (recorded), current.

    Parameters
    ----------
    snapshot_dir : str or path-like
        The snapshot directory; a missing one has no snapshots.

    Returns
    -------
    list of dict
        One dict per ``snapshot-*.db`` file, sorted by name (its UTC time stamp): ``name``, ``path``
        (str), ``bytes`` (file size), ``sha256`` (from the ``.sha256`` file, None if missing or
        unreadable) and ``current`` (True for the one ``CURRENT`` names; all False if it is damaged).
        Builds in progress are not listed.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     list_snapshots(d)
    []
    """
    snapshot_dir = Path(snapshot_dir)
    try:
        pointer = read_current(snapshot_dir)
    except SnapshotError:
        pointer = None
    current = pointer["name"] if pointer else None
    out = []
    for p in sorted(snapshot_dir.glob("snapshot-*.db")):
        if _PUBLISHED.match(p.name):
            out.append({"name": p.name, "path": str(p), "bytes": p.stat().st_size,
                        "sha256": _recorded_sha(p), "current": p.name == current})
    return out


def _point_to(snapshot_dir: Path, name: str, sha256: str) -> dict:
    pointer = {"name": name, "sha256": sha256,
               "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write_text(snapshot_dir / CURRENT, json.dumps(pointer) + "\n")
    return pointer


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(snapshot_dir: str | os.PathLike, keep: int) -> list[str]:
    """Delete published snapshots beyond the newest ``keep`` (never the current one), and builds left
    by dead processes; return the names deleted."""
    snapshot_dir = Path(snapshot_dir)
    if not snapshot_dir.is_dir():
        return []
    with _locked(snapshot_dir):
        return _prune(snapshot_dir, max(1, int(keep)))


def _prune(snapshot_dir: Path, keep: int) -> list[str]:
    removed = []
    published = list_snapshots(snapshot_dir)
    for entry in published[: max(0, len(published) - keep)]:
        if entry["current"]:
            continue
        for p in (Path(entry["path"]), _sidecar(Path(entry["path"]))):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        removed.append(entry["name"])
    for p in snapshot_dir.glob("snapshot-*.db.sha256"):  # left by a publish killed before its rename
        if not p.with_name(p.name.removesuffix(".sha256")).exists():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    for p in snapshot_dir.glob(".build-*"):
        m = _BUILD.match(p.name.removesuffix("-journal"))
        if m and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            removed.append(p.name)
    for p in snapshot_dir.glob(".*.tmp-*"):  # pointer / checksum temp files of killed processes
        m = _TEMP.match(p.name)
        if m and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            removed.append(p.name)
    if removed:
        fsync_dir(snapshot_dir)
    return removed


def publish(new_file: str | os.PathLike, snapshot_dir: str | os.PathLike, keep: int = 3, *,
            name: str | None = None) -> dict:
    """Check ``new_file`` and make it the served snapshot of ``snapshot_dir``, atomically.

    Parameters
    ----------
    new_file : path-like
        A finished snapshot in ``snapshot_dir`` (from :func:`new_build_path`); it is renamed to its
        final name. A file elsewhere is first copied into the directory.
    snapshot_dir : path-like
        Where snapshots are published.
    keep : int
        Published snapshots kept (at least 2, so that a rollback has somewhere to go).
    name : str, optional
        The published file's name (``snapshot-<UTC stamp>.db``, as the build host named it), so that
        every app host holds the same names (:mod:`miniapp.snapshot.replicate`); default None: a fresh
        stamp. A name already published here is refused.

    Returns
    -------
    dict with ``name``, ``path``, ``sha256``, ``bytes``, ``as_of``, ``previous`` and ``pruned``.

    Raises
    ------
    SnapshotError
        The file fails a check; nothing is changed and the served snapshot stays.
    """
    snapshot_dir = Path(snapshot_dir)
    new_file = Path(new_file)
    keep = max(2, int(keep))
    if name is not None and not _PUBLISHED.match(name):
        raise SnapshotError(f"{name!r} is not a snapshot name (snapshot-<UTC stamp>.db)")
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    if new_file.resolve().parent != snapshot_dir.resolve():
        import shutil

        staged = new_build_path(snapshot_dir)
        shutil.copyfile(new_file, staged)
        new_file = staged
    facts = check_snapshot(new_file)
    fsync_file(new_file)
    with _locked(snapshot_dir):
        try:
            previous = read_current(snapshot_dir)
        except SnapshotError:
            previous = None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        final = snapshot_dir / (name or f"snapshot-{stamp}.db")
        if name is not None and final.exists():
            with contextlib.suppress(FileNotFoundError):
                new_file.unlink()
            raise SnapshotError(f"{name} is already published in {snapshot_dir}")
        n = 1
        while final.exists():
            final = snapshot_dir / f"snapshot-{stamp}-{n}.db"
            n += 1
        try:
            atomic_write_text(_sidecar(final), f"{facts['sha256']}  {final.name}\n")
            os.replace(new_file, final)
            fsync_dir(snapshot_dir)
            _point_to(snapshot_dir, final.name, facts["sha256"])
        except OSError as exc:
            served = previous["name"] if previous else "nothing"
            raise SnapshotError(f"publishing failed ({exc.strerror or exc}); still serving {served}") from None
        pruned = _prune(snapshot_dir, keep)
    return {"name": final.name, "path": str(final), "sha256": facts["sha256"], "bytes": facts["bytes"],
            "as_of": facts["as_of"], "previous": previous["name"] if previous else None, "pruned": pruned}


def rollback(snapshot_dir: str | os.PathLike, to: str | None = None) -> dict:
    """Serve the published snapshot before the current one (or the one named ``to``).

    The target is checked against its recorded sha256 and its integrity before CURRENT moves.

    Parameters
    ----------
    snapshot_dir : str or path-like
        The snapshot directory.
    to : str, optional
        The name of a published snapshot to serve (``snapshot-....db``, as :func:`list_snapshots`
        gives it); default None: the one published just before the current one.

    Returns
    -------
    dict with ``name``, ``sha256`` and ``previous`` (the one served before).

    Raises
    ------
    SnapshotError
        If nothing is published, the current snapshot is the oldest kept (and ``to`` is not given),
        ``to`` names no published snapshot, or the target has no recorded checksum or fails
        :func:`check_snapshot`; CURRENT is then left as it was.
    """
    snapshot_dir = Path(snapshot_dir)
    if not snapshot_dir.is_dir():
        raise SnapshotError(f"{snapshot_dir} does not exist: nothing is published, so there is nothing to roll back")
    with _locked(snapshot_dir):
        published = list_snapshots(snapshot_dir)
        if to is None:
            idx = next((i for i, e in enumerate(published) if e["current"]), None)
            if idx is None:
                raise SnapshotError("nothing is published, so there is nothing to roll back")
            if idx == 0:
                raise SnapshotError("the current snapshot is the oldest kept; there is nothing to roll back to")
            target = published[idx - 1]
        else:
            target = next((e for e in published if e["name"] == to), None)
            if target is None:
                raise SnapshotError(f"no published snapshot named {to}")
        if target["sha256"] is None:
            raise SnapshotError(f"snapshot {target['name']} has no recorded checksum; refusing to serve it")
        check_snapshot(target["path"], target["sha256"])
        previous = next((e["name"] for e in published if e["current"]), None)
        _point_to(snapshot_dir, target["name"], target["sha256"])
    return {"name": target["name"], "sha256": target["sha256"], "previous": previous}
