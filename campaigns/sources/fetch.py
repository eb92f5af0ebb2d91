"""``fetch_source``: a recipient file from wherever its source string says, as a local path."""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Mapping
from urllib.parse import unquote, urlsplit

from campaigns.sources import local, s3, web
from campaigns.sources.describe import FILE, HTTP, PATH, S3, describe_source, source_kind, split_s3
from campaigns.sources.errors import SourceError, too_large

# calamine reads a workbook from its path only when the extension matches its kind,
# so a download keeps a plain extension; nothing else of the remote name reaches a path
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@dataclass(frozen=True)
class Fetched:
    """A recipient file ready to read.

    ``path`` is the file itself for a local source, or a temporary download inside the
    work folder, removed when the ``fetch_source`` block ends. ``name`` is a label (the
    file's base name), never a path. ``origin`` is the object actually read, safe to
    log (for ``s3://bucket/prefix/``: the newest key chosen).
    """

    path: Path
    name: str
    size: int
    origin: str


@contextmanager
def fetch_source(
    source: str, settings, *, workdir: Path, headers: Mapping[str, str] | None = None
) -> Iterator[Fetched]:
    """Make the recipient file named by ``source`` readable at a local path for the block.

    ``source``: a plain path, a ``file:`` URL (percent-decoded), ``s3://bucket/key``,
    ``s3://bucket/prefix/`` (the newest object under it), or an ``https://`` URL
    (``http://`` only on a loopback host). ``headers`` are sent with an http(s) request
    only, to its own origin, and never shown; other sources ignore them. Downloads go to
    a temporary file inside ``workdir`` (created if missing), removed on leaving the
    block, also on error. Local files are not checked against ``max_file_bytes`` here
    (the reader refuses them); downloads are, before or while they stream.

    Raises SourceError (``temporary`` set for network and server failures) naming the
    source as ``describe_source`` shows it.
    """
    shown = describe_source(source)
    kind = source_kind(source)
    if kind in (PATH, FILE):
        path = local.local_path(source, shown)
        size = local.check_local_file(path, shown)
        yield Fetched(path=path, name=path.name, size=size, origin=shown)
        return
    if kind == S3:
        bucket, key = split_s3(source)
        if not bucket:
            raise SourceError(shown, "no bucket named (s3://bucket/key or s3://bucket/prefix/)")
        client = s3.make_client(settings)
        key, size = s3.resolve_key(client, bucket, key, shown)
        origin = describe_source(f"s3://{bucket}/{key}")
        name = key.rpartition("/")[2]
        _check_size(size, settings, origin)
        with _download_file(workdir, name, origin) as dest:
            s3.download(client, bucket, key, dest, origin)
            yield Fetched(path=dest, name=name, size=_written(dest, settings, origin), origin=origin)
        return
    if kind == HTTP:
        try:
            parts = urlsplit(source)
        except ValueError:
            raise SourceError(shown, "not a valid URL") from None
        name = unquote(PurePosixPath(parts.path).name) or parts.hostname or "download"
        with _download_file(workdir, name, shown) as dest:
            size = web.download(source, dest, settings, shown, headers=headers)
            yield Fetched(path=dest, name=name, size=size, origin=shown)
        return
    raise SourceError(shown, f"unknown scheme {kind!r}: use a path, file://, s3:// or https://")


@contextmanager
def _download_file(workdir: Path, name: str, shown: str) -> Iterator[Path]:
    """An empty temporary file in ``workdir``, removed afterwards whatever happens."""
    suffix = PurePosixPath(name).suffix
    try:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        handle, raw = tempfile.mkstemp(
            prefix="source-", suffix=suffix if _SAFE_SUFFIX.match(suffix) else "", dir=workdir
        )
    except OSError as exc:
        raise SourceError(shown, f"cannot create a file in the work folder: {exc.strerror}") from None
    os.close(handle)
    path = Path(raw)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _check_size(size: int, settings, shown: str) -> None:
    if size > settings.max_file_bytes:
        raise SourceError(shown, too_large(settings.max_file_bytes, size))


def _written(path: Path, settings, shown: str) -> int:
    # the object may have been replaced between listing it and downloading it
    size = path.stat().st_size
    _check_size(size, settings, shown)
    return size
