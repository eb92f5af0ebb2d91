"""The one error every source raises: ``SourceError``.

::

    ValueError
      └── SourceError            .temporary: bool
            temporary=False      missing file, a folder, unreadable, unknown scheme, bucket or
                                 key not found, empty prefix, access denied, HTTP 4xx, too large
            temporary=True       network failure, timeout, HTTP 408/429/5xx, S3 throttling/5xx

Callers retry a temporary error later and give up on the others. Third-party errors
(botocore, httpx, OSError) are translated in the module that calls the library
(``local``, ``s3``, ``web``); nothing else raises across this package's boundary.
"""

from __future__ import annotations

from campaigns.ingest.limits import human_bytes

_MAX_REASON_CHARS = 300


def one_line(text: str, limit: int = _MAX_REASON_CHARS) -> str:
    """``text`` on one line, control characters escaped, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SourceError(ValueError):
    """A recipient file could not be fetched from its source.

    ``str(exc)`` is one line: the source as ``describe_source`` shows it (no credentials,
    no query string, no header values), a colon, and the reason. ``temporary`` says
    whether trying again later may succeed (network failures, timeouts, server errors).
    """

    def __init__(self, source: str, reason: str, *, temporary: bool = False) -> None:
        self.source = source  # already described: safe to log
        self.reason = one_line(reason)
        self.temporary = temporary
        super().__init__(f"{source}: {self.reason}")

    def __reduce__(self):
        # keyword-only ``temporary`` and the two-part message survive pickling (Celery results)
        return (self.__class__, (self.source, self.reason), {"temporary": self.temporary})


def too_large(limit: int, size: int | None = None) -> str:
    """The reason for a download over ``limit`` bytes (``size`` when announced)."""
    what = f"is {human_bytes(size)}, more" if size is not None else "is more"
    return f"the file {what} than the {human_bytes(limit)} limit (CAMPAIGNS_MAX_FILE_BYTES)"
