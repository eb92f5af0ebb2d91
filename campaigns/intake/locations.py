"""The watched locations (``CAMPAIGNS_WATCH``) and the storage port both kinds implement.

``file:///srv/inbox`` (or a plain absolute path) is a local or mounted folder;
``s3://bucket/prefix/`` (or ``s3://bucket`` for the whole bucket) any S3-compatible
store reached through boto3's standard configuration. Paths inside a location are
'/'-separated and relative to it; its result folders (``processed/``, ``rejected/``,
``reports/``) are never watched.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

RESULT_FOLDERS = ("processed", "rejected", "reports")


class LocationError(ValueError):
    """A watched location cannot be used (malformed, unknown scheme, unreachable).
    ``temporary`` says whether the next scan may succeed."""

    def __init__(self, message: str, *, temporary: bool = False):
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class Entry:
    """One object in a listing: its path below the location, size, the time it last
    changed (epoch seconds) and its content identity (ETag + LastModified on S3, size +
    modification time in a folder)."""

    path: str
    size: int
    changed: float
    identity: str


@dataclass
class Listing:
    entries: list[Entry] = field(default_factory=list)
    calls: int = 0  # listing requests made (S3) or folders read (local)
    skipped: list[str] = field(default_factory=list)  # names that cannot be taken (not UTF-8)


class Storage(Protocol):
    """What the watcher needs from a location. Every method raises LocationError."""

    location: str  # the normalized form stored with each drop
    settles: bool  # True when a file may be seen half-written (a folder), False on S3

    def list(self) -> Listing:
        """Every object below the location, except the result folders and hidden folders."""

    def stat(self, path: str) -> Entry | None:
        """The object at ``path`` now, or None when there is none."""

    def read(self, path: str, limit: int) -> bytes:
        """The object's bytes (at most ``limit``; LocationError beyond)."""

    def fetch(self, path: str, settings, workdir: Path) -> AbstractContextManager[Path]:
        """The object as a local file named by its own name, for the block."""

    def exists(self, path: str) -> bool: ...

    def write(self, path: str, data: bytes) -> None:
        """Write the whole object (never seen half-written)."""

    def put_file(self, path: str, local: Path) -> None:
        """Store the local file at ``path`` (whole)."""

    def move(self, src: str, dst: str) -> bool:
        """Move ``src`` to ``dst``; True when it is at ``dst`` afterwards (moved now or
        before), False when neither exists. On S3 a copy, then a delete: a move cut in
        the middle is finished by calling it again."""


def parse_location(raw: str, settings=None) -> Storage:
    """The storage for one entry of CAMPAIGNS_WATCH (an S3 client is made on first use,
    with ``settings``' timeouts); raises LocationError."""
    from urllib.parse import unquote, urlsplit

    text = raw.strip()
    lower = text.lower()
    if lower.startswith("s3://"):
        from campaigns.intake.s3 import S3Prefix

        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise LocationError(f"{text}: no bucket named (s3://bucket/prefix/)")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return S3Prefix(bucket, prefix, settings)
    if lower.startswith("file:"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise LocationError(f"{text}: a folder on another host ({parts.netloc}); mount it and watch the mount")
        folder = Path(unquote(parts.path))
    elif text.startswith("/"):
        folder = Path(text)
    else:
        raise LocationError(f"{text}: watch file:///folder or s3://bucket/prefix/")
    from campaigns.intake.local import LocalFolder

    return LocalFolder(folder)


def watched(settings) -> list[Storage]:
    """The storages for ``settings.watch``, in order; raises LocationError for the first
    entry that cannot be used."""
    seen: dict[str, Storage] = {}
    for raw in settings.watch:
        storage = parse_location(raw, settings)
        seen.setdefault(storage.location, storage)
    return list(seen.values())


def in_result_folder(path: str) -> bool:
    return path.split("/", 1)[0] in RESULT_FOLDERS


def shown(location: str, path: str) -> str:
    """A drop as people read it: its location and path."""
    return f"{location.rstrip('/')}/{path}"
