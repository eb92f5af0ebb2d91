"""What a reader accepts, and the refusal it raises for a file it will not read.

Both live here because every reader (text, Excel) checks the same limits and
raises the same error; ``campaigns.ingest.readers`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

# Reasons coming from third-party parsers can be long or span lines; a person
# reads one line.
_MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class Limits:
    """Bounds on what a file may cost to read (all configurable in Settings)."""

    max_file_bytes: int = 200 * 1024 * 1024
    max_rows: int = 2_000_000
    max_inflate_ratio: int = 100
    max_inflated_bytes: int = 1024**3

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        """The limits configured in a ``campaigns.settings.Settings``."""
        return cls(
            max_file_bytes=settings.max_file_bytes,
            max_rows=settings.max_rows,
            max_inflate_ratio=settings.max_inflate_ratio,
            max_inflated_bytes=settings.max_inflated_bytes,
        )


class FileRefused(Exception):
    """The file as a whole cannot be read.

    ``str(exc)`` is one line a person understands, naming the file (its base
    name only) and, when known, the row:
    ``recipients.csv, row 12: cannot be decoded as windows-1251 (byte 0x98)``.
    """

    def __init__(self, file: str, reason: str, row: int | None = None):
        # args keep all three so the exception survives pickling (Celery results)
        super().__init__(file, reason, row)
        self.file = PurePath(file).name if file else file
        reason = " ".join(str(reason).split())
        if len(reason) > _MAX_REASON_CHARS:
            reason = reason[: _MAX_REASON_CHARS - 1] + "…"
        self.reason = reason
        self.row = row

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        return f"{where}: {self.reason}"


def human_bytes(size: int) -> str:
    """``1536`` -> ``'1.5 KiB'``: sizes in messages people read."""
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
