"""Telling sources apart, and showing one safely.

A source is a plain path (``/srv/in/a.csv``, ``./a.csv``), a ``file:`` URL, an
``s3://bucket/key`` or ``s3://bucket/prefix/``, or an ``http(s)://`` URL. The shown
form (``describe_source``) drops what may be a secret: a URL's user and password,
its query string (pre-signed URLs carry their signature there) and its fragment.
Request headers are never part of a source, so they never reach the shown form.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from campaigns.redact import redact
from campaigns.sources.errors import one_line

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_MAX_SHOWN_CHARS = 500

PATH, FILE, S3, HTTP = "path", "file", "s3", "http"


def source_kind(source: str) -> str:
    """``"path"``, ``"file"``, ``"s3"``, ``"http"`` (both http and https), or the unknown
    scheme in lower case (``"ftp"``).

    A single letter before the colon, or a colon not followed by ``//`` (``a:b.csv``),
    is part of a path; ``file:/x`` (one slash) is a file URL.
    """
    match = _SCHEME.match(source)
    if not match:
        return PATH
    scheme = match.group(1).lower()
    if scheme == "file":
        return FILE
    if not source[match.end():].startswith("//"):
        return PATH
    if scheme == "s3":
        return S3
    if scheme in ("http", "https"):
        return HTTP
    return scheme


def split_s3(source: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``; the key is taken literally
    (not percent-decoded, ``?`` and ``#`` included), as the AWS CLI does."""
    rest = source[len("s3://"):]
    bucket, _, key = rest.partition("/")
    return bucket, key


def describe_source(source: str) -> str:
    """``source`` in a form safe for logs and messages: no user or password, no query
    string, no fragment, control characters escaped, one line. Never raises."""
    source = str(source)
    try:
        kind = source_kind(source)
        if kind == PATH:
            shown = source
        elif kind == S3:
            bucket, key = split_s3(source)
            shown = f"s3://{bucket.rpartition('@')[2]}/{key}"
        else:
            parts = urlsplit(source)
            host = parts.netloc.rpartition("@")[2]
            shown = f"{parts.scheme.lower()}://{host}{parts.path}"
            if parts.query:
                shown += "?…"
    except Exception:  # noqa: BLE001 - a malformed URL (bad port, bad IPv6) is shown without its details
        shown = f"{source.partition(':')[0]}:…" if ":" in source else "(unreadable source)"
    return one_line(redact(shown), _MAX_SHOWN_CHARS)
