"""The build's inputs: the feed folder, listed once (:func:`list_feed_folder`), and the reference
feeds read from it. Every later reader of feeds, ping parts and input checksums uses that listing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from forecast.feeds import FeedReport, feed_parts, find_feed, read_feed
from miniapp.snapshot import SnapshotError, file_sha256

REFERENCE_FEEDS = ("cities", "communities", "cells", "cases", "case_trips", "city_cases")


@dataclass(frozen=True)
class FeedFolder:
    """One listing of the feed folder: where each feed is, the ping parts, every file to hash.

    Attributes
    ----------
    path : Path
        The folder.
    feeds : mapping
        Reference feed kind -> its file (kinds absent from the folder are absent here).
    ping_parts : tuple of Path
        The files of the pings feed in natural order: the parts of ``pings/``, or the one file.
    pings_are_parts : bool
        Whether the pings feed is a ``pings/`` directory of daily parts (only parts are ever purged).
    files : tuple of Path
        Every visible file directly in the folder (the build records their checksums).
    """

    path: Path
    feeds: Mapping[str, Path]
    ping_parts: tuple[Path, ...]
    pings_are_parts: bool
    files: tuple[Path, ...]


def list_feed_folder(path: str | Path) -> FeedFolder:
    """List the feed folder once.

    Parameters
    ----------
    path : path-like
        The feed folder (docs/data.md).

    Returns
    -------
    FeedFolder
        Where each feed is, the ping parts and the files to hash.

    Raises
    ------
    forecast.feeds.FeedError
        When a feed has several files, or ``pings/`` has no parts.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); (d / "pings").mkdir()
    >>> for name in ("cities.csv", "pings/part-2.csv", "pings/part-10.csv"):
    ...     _ = (d / name).write_text("x")
    >>> f = list_feed_folder(d)
    >>> sorted(f.feeds), [p.name for p in f.ping_parts], f.pings_are_parts, [p.name for p in f.files]
    (['cities'], ['part-2.csv', 'part-10.csv'], True, ['cities.csv'])
    """
    path = Path(path)
    feeds = {kind: p for kind in REFERENCE_FEEDS if (p := find_feed(path, kind)) is not None}
    pings = find_feed(path, "pings")
    parts = tuple(feed_parts(pings)) if pings is not None else ()
    files = tuple(p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith("."))
    return FeedFolder(path, feeds, parts, pings is not None and pings.is_dir(), files)


def read_reference_feeds(folder: FeedFolder, key: bytes, tz: str) -> tuple[dict, dict, FeedReport]:
    """Every feed except pings, each checked against the ones before it.

    Parameters
    ----------
    folder : FeedFolder
        The listing of the feed folder.
    key : bytes
        HMAC key of the phone-number pseudonyms.
    tz : str
        The time zone of local dates.

    Returns
    -------
    tuple
        The tables by kind, the quarantined rows by kind, and the run report.

    Raises
    ------
    SnapshotError
        When cities, communities or cells are missing: a build cannot do without them.
    """
    tables, quarantine, report = {}, {}, FeedReport()
    for kind in REFERENCE_FEEDS:
        path = folder.feeds.get(kind)
        if path is None:
            continue
        refs = {k: tables.get(k) for k in ("cells", "cities", "communities", "cases")}
        tables[kind], quarantine[kind], r = read_feed(path, kind, pseudonym_key=key, tz=tz, **refs)
        report = report.merge(r)
    for kind in ("cities", "communities", "cells"):
        if kind not in tables:
            raise SnapshotError(f"{folder.path}: the {kind} feed is missing; a build needs cities, communities and cells")
    return tables, quarantine, report


def input_hashes(folder: FeedFolder, manifests: Mapping[str, dict]) -> dict[str, str]:
    """The sha256 of every input: the files of the folder and, from their manifests, the ping parts.

    Parameters
    ----------
    folder : FeedFolder
        The listing of the feed folder.
    manifests : mapping
        Ping part name -> its cache manifest (with ``sha256``).

    Returns
    -------
    dict
        File name (``pings/<part>`` for parts) -> hex sha256.
    """
    out = {p.name: file_sha256(p) for p in folder.files}
    for name, m in manifests.items():
        out[f"pings/{name}"] = m["sha256"]
    return out
