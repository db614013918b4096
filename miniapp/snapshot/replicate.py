"""Several app hosts, one build: copy the build host's published snapshot to this host and serve it.

The build host publishes into its own snapshot directory (:func:`~miniapp.snapshot.publish.publish`)
and offers that directory read-only to the app hosts (``deploy/nginx/riskcard.conf.template``: an
internal listener; a plain directory works too, e.g. in tests). Each app host runs
:func:`pull_snapshot` (``riskcard snapshot-pull``): it reads the source's ``CURRENT``, and when this
host does not serve that checksum yet it downloads the file beside its served one, checks the bytes
against the source's sha256 while they arrive, then publishes it under the same name with the usual
checks and the atomic ``CURRENT`` swap. A host that was down during a publish catches up the same
way: the pull runs before the server starts and from a timer (docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from miniapp.snapshot.files import SnapshotError
from miniapp.snapshot.publish import CURRENT, list_snapshots, new_build_path, publish, read_current, rollback

CHUNK_BYTES = 1 << 20


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _open(source: str, name: str, timeout_s: float):
    if _is_url(source):
        url = source.rstrip("/") + "/" + name
        try:
            return urllib.request.urlopen(url, timeout=timeout_s)  # noqa: S310 - an operator-given http(s) URL
        except (urllib.error.URLError, OSError) as exc:
            raise SnapshotError(f"cannot read {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        return open(Path(source) / name, "rb")
    except OSError as exc:
        raise SnapshotError(f"cannot read {Path(source) / name}: {exc.strerror or exc}") from None


def source_current(source: str, timeout_s: float = 10.0) -> dict:
    """The ``CURRENT`` pointer of a source (an http(s) URL of a snapshot directory, or its path).

    Parameters
    ----------
    source : str
        ``http://build:8081/snapshots/`` or ``/srv/riskcard/build/snapshots``.
    timeout_s : float
        Network timeout in seconds.

    Returns
    -------
    dict
        ``name``, ``sha256`` and ``published_at`` as the build host wrote them.

    Raises
    ------
    SnapshotError
        If the source cannot be read or its pointer is damaged or names no snapshot.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     source_current(tempfile.mkdtemp())
    ... except SnapshotError as exc:
    ...     "cannot read" in str(exc)
    True
    """
    with _open(source, CURRENT, timeout_s) as f:
        raw = f.read(64 * 1024)
    try:
        pointer = json.loads(raw)
        name, sha = str(pointer["name"]), str(pointer["sha256"])
    except (ValueError, KeyError, TypeError):
        raise SnapshotError(f"the CURRENT pointer of {source} is damaged") from None
    if "/" in name or not name.startswith("snapshot-") or len(sha) != 64:
        raise SnapshotError(f"the CURRENT pointer of {source} names no snapshot")
    return pointer


def pull_snapshot(source: str, snapshot_dir: str | os.PathLike, keep: int = 3, timeout_s: float = 30.0) -> dict:
    """Serve here the snapshot the source's ``CURRENT`` names: copy, verify its sha256, swap atomically.

    Parameters
    ----------
    source : str
        The build host's snapshot directory: an http(s) URL or a path.
    snapshot_dir : str or path-like
        This host's snapshot directory (``RISKCARD_SNAPSHOT_DIR``).
    keep : int
        Published snapshots kept here (at least 2).
    timeout_s : float
        Network timeout per read, in seconds.

    Returns
    -------
    dict
        ``changed`` (False when this host already served it), ``name``, ``sha256``, ``bytes`` (copied;
        0 when the file was already here) and ``previous`` (the name served before).

    Raises
    ------
    SnapshotError
        The source cannot be read, the copy does not match the source's sha256, or the file fails the
        checks of :func:`~miniapp.snapshot.publish.publish`; the served snapshot is then unchanged.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     pull_snapshot(tempfile.mkdtemp(), tempfile.mkdtemp())
    ... except SnapshotError as exc:
    ...     "cannot read" in str(exc)
    True
    """
    snapshot_dir = Path(snapshot_dir)
    pointer = source_current(source, timeout_s=min(timeout_s, 10.0))
    try:
        local = read_current(snapshot_dir)
    except SnapshotError:
        local = None
    previous = local["name"] if local else None
    if local is not None and local["sha256"] == pointer["sha256"]:
        return {"changed": False, "name": local["name"], "sha256": local["sha256"], "bytes": 0, "previous": previous}
    here = {s["name"]: s["sha256"] for s in list_snapshots(snapshot_dir)}
    if here.get(pointer["name"]) == pointer["sha256"]:  # copied before (a rollback at the source): re-point
        out = rollback(snapshot_dir, to=pointer["name"])
        return {"changed": True, "name": out["name"], "sha256": out["sha256"], "bytes": 0, "previous": previous}
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    staged = new_build_path(snapshot_dir)
    digest, copied = hashlib.sha256(), 0
    try:
        with _open(source, pointer["name"], timeout_s) as src, open(staged, "wb") as dst:
            while True:
                chunk = src.read(CHUNK_BYTES)
                if not chunk:
                    break
                digest.update(chunk)
                dst.write(chunk)
                copied += len(chunk)
        if digest.hexdigest() != pointer["sha256"]:
            raise SnapshotError(f"the copy of {pointer['name']} does not match the source's sha256 "
                                f"(damaged in transit or changed at the source); still serving {previous or 'nothing'}")
        if pointer["name"] in here:  # same name, other bytes: keep the source's bytes under a fresh name
            out = publish(staged, snapshot_dir, keep=keep)
        else:
            out = publish(staged, snapshot_dir, keep=keep, name=pointer["name"])
    except OSError as exc:
        raise SnapshotError(f"copying {pointer['name']} failed: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
    return {"changed": True, "name": out["name"], "sha256": out["sha256"], "bytes": copied, "previous": previous}


def push_snapshot(snapshot_dir: str | os.PathLike, host_dirs: list[str | os.PathLike], keep: int = 3) -> list[dict]:
    """Publish the build host's current snapshot to several host directories reachable as paths.

    For a deployment where the build host mounts each app host's snapshot directory (or for one
    machine with several hosts' folders); over the network, each host pulls instead
    (:func:`pull_snapshot`). A host that fails is reported, the others still get the snapshot.

    Parameters
    ----------
    snapshot_dir : str or path-like
        The build host's snapshot directory.
    host_dirs : list of str or path-like
        The app hosts' snapshot directories.
    keep : int
        Published snapshots kept on each host.

    Returns
    -------
    list of dict
        Per host: ``host`` (the directory) and either the :func:`pull_snapshot` result or ``error``.

    Examples
    --------
    >>> import tempfile
    >>> push_snapshot(tempfile.mkdtemp(), [])
    []
    """
    results = []
    for host in host_dirs:
        try:
            results.append({"host": str(host), **pull_snapshot(str(snapshot_dir), host, keep=keep)})
        except SnapshotError as exc:
            results.append({"host": str(host), "error": str(exc)})
    return results


